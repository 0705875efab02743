/**
 * The trainer's weights kept in an object bucket (the `objectStore` option: NATS's object store, through the
 * transport's `openBlobStore`): one object per version, `v<version>`, holding the message `{version, weights}`.
 * The trainer stores each version once (the newest wins when it publishes faster than the bucket takes them) and
 * keeps the newest few; clients, told the bucket in the hello reply, watch it and fetch the newest version for
 * themselves when they join and whenever a newer one is stored, so a late joiner costs the others nothing and weights
 * outlive the trainer. See docs/trainer.md, "Weights in an object store".
 *
 * @module
 */
import { EdgeMLError, InvalidArgumentError } from '../../core/errors.js';
import type { Endpoint, Frame } from '../../core/types.js';
import type { SubscriberStats } from '../../messaging/broadcast.js';
import type { Binding } from '../../messaging/rpc-server.js';
import type { BlobStore, Transport } from '../../transport/types.js';
import { type DecodeLimits, decodeMessage } from '../../wire/codec.js';

/** The `objectStore` option of a trainer server. */
export interface WeightsStoreOptions {
  /** The bucket's name. @default `<prefix>_<service>_weights` (`edgeml_trainer_weights`) */
  bucket?: string;
  /** Versions kept in the bucket (older ones are deleted). @default 2 */
  keep?: number;
}

/** Counters of the weights bucket, in the trainer's stats. */
export interface WeightsStoreStats {
  /** The bucket's name. */
  bucket: string;
  /** Versions stored, and those not stored (a newer one replaced it while waiting, or the bucket refused it). */
  stored: number;
  skipped: number;
  failed: number;
  /** The newest version stored (0: none). */
  storedVersion: number;
}

/** The object name of weights version `v`. */
export function weightsObjectName(version: number): string {
  return `v${version}`;
}

/** The version an object name stands for, or undefined when it is not one of ours. */
export function weightsVersionOf(name: string): number | undefined {
  const m = /^v([1-9][0-9]{0,15})$/.exec(name);
  const v = m ? Number(m[1]) : Number.NaN;
  return Number.isSafeInteger(v) ? v : undefined;
}

/** Checks the `objectStore` option. @throws {@link InvalidArgumentError} naming the bad field */
export function checkWeightsStoreOptions(value: unknown): WeightsStoreOptions {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidArgumentError('objectStore', 'must be { bucket?, keep? }');
  }
  const o = value as WeightsStoreOptions;
  if (o.bucket !== undefined && (typeof o.bucket !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(o.bucket))) {
    throw new InvalidArgumentError('objectStore.bucket', 'must be 1..64 of [A-Za-z0-9_-]');
  }
  if (o.keep !== undefined && !(Number.isSafeInteger(o.keep) && o.keep >= 1)) {
    throw new InvalidArgumentError('objectStore.keep', 'must be a positive integer');
  }
  return o;
}

/** The trainer's side: see the module comment. */
export class WeightsStore {
  private storing: Promise<void> | undefined;
  private next: { version: number; frames: Frame[] } | undefined;
  private readonly counters = { stored: 0, skipped: 0, failed: 0, storedVersion: 0 };
  /** The last failure, for the error callback. */
  lastError: unknown;

  private constructor(
    private readonly blobs: BlobStore,
    private readonly keep: number,
  ) {}

  /**
   * Opens (creating it) the bucket on the first `nats://` binding that has one.
   * @throws {@link InvalidArgumentError} without such a binding, {@link EdgeMLError} when the bucket cannot be opened
   */
  static async open(bindings: readonly Binding[], options: WeightsStoreOptions): Promise<WeightsStore> {
    const binding = bindings.find((b) => b.endpoint.scheme === 'nats' && b.transport.openBlobStore);
    if (!binding?.transport.openBlobStore) {
      throw new InvalidArgumentError('objectStore', 'needs a nats:// endpoint in listen (and `import "edgeml/nats"`)');
    }
    const blobs = await binding.transport.openBlobStore(binding.endpoint, 'weights', {
      create: true,
      ...(options.bucket !== undefined ? { bucket: options.bucket } : {}),
    });
    return new WeightsStore(blobs, options.keep ?? 2);
  }

  /** The versions in the bucket, newest first. */
  private async versions(): Promise<number[]> {
    return (await this.blobs.list())
      .map(weightsVersionOf)
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => b - a);
  }

  /** The newest version in the bucket (0: none), so that a restarted trainer goes on from it. */
  async newestVersion(): Promise<number> {
    const newest = (await this.versions())[0] ?? 0;
    this.counters.storedVersion = Math.max(this.counters.storedVersion, newest);
    return newest;
  }

  /**
   * Stores weights version `version` (the encoded message `{version, weights}`) in the background: at once when nothing is being stored, else after the current one, replacing
   * any other version waiting. Never throws (failures are counted).
   */
  store(version: number, frames: Frame[]): void {
    if (this.next) this.counters.skipped++;
    this.next = { version, frames };
    this.storing ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.next) {
      const m = this.next;
      this.next = undefined;
      try {
        await this.blobs.put(weightsObjectName(m.version), m.frames);
        this.counters.stored++;
        this.counters.storedVersion = Math.max(this.counters.storedVersion, m.version);
        await this.prune();
      } catch (e) {
        this.counters.failed++;
        this.lastError = e;
      }
    }
    this.storing = undefined;
  }

  private async prune(): Promise<void> {
    for (const v of (await this.versions()).slice(this.keep)) await this.blobs.delete(weightsObjectName(v));
  }

  /** Resolves once every version handed to {@link store} so far is stored (or failed). */
  async flushed(): Promise<void> {
    while (this.storing) await this.storing;
  }

  /** The bucket's name (clients are told it in the hello reply). */
  get bucket(): string {
    return this.blobs.name;
  }

  stats(): WeightsStoreStats {
    return { bucket: this.bucket, ...this.counters };
  }

  /** Waits for the version being stored, then releases the bucket. */
  async close(): Promise<void> {
    await this.flushed();
    await this.blobs.close();
  }
}

/** The client's side: watches the bucket and hands the newest version to `deliver`, one at a time. */
export class WeightsWatcher {
  private blobs: BlobStore | undefined;
  private stopWatch: (() => void) | undefined;
  private newest = 0;
  private delivered = 0;
  private running = false;
  /** The version being fetched (0: none). */
  private fetching = 0;
  private closed = false;
  private readonly counters: SubscriberStats = {
    received: 0,
    delivered: 0,
    dropped: 0,
    duplicates: 0,
    malformed: 0,
    callbackErrors: 0,
  };
  /** `connected` once the bucket is open. */
  status: 'connecting' | 'connected' | 'closed' = 'connecting';

  constructor(
    private readonly transport: Transport,
    private readonly endpoint: Endpoint,
    private readonly bucket: string,
    private readonly limits: DecodeLimits,
    private readonly deliver: (message: unknown) => Promise<void>,
    private readonly onError: (e: unknown) => void,
  ) {
    void this.open();
  }

  private async open(): Promise<void> {
    for (let wait = 100; !this.closed; wait = Math.min(wait * 2, 2000)) {
      try {
        if (!this.transport.openBlobStore) throw new EdgeMLError('this transport keeps no object buckets');
        const blobs = await this.transport.openBlobStore(this.endpoint, 'weights', {
          create: false,
          bucket: this.bucket,
        });
        if (this.closed) {
          await blobs.close();
          return;
        }
        this.blobs = blobs;
        this.status = 'connected';
        this.stopWatch = blobs.watch((c) => this.onChange(c));
        return;
      } catch (e) {
        // The trainer may not have made the bucket yet, or NATS is away: try again.
        if (e instanceof InvalidArgumentError) {
          this.onError(e);
          return;
        }
        await new Promise((r) => setTimeout(r, wait).unref());
      }
    }
  }

  /** A stored version is noted; the newest is fetched once the bucket's present objects have all been seen. */
  private onChange(c: { name: string; deleted: boolean; more: boolean }): void {
    const v = c.deleted ? undefined : weightsVersionOf(c.name);
    if (v !== undefined) {
      if (v <= this.newest) this.counters.duplicates++;
      else {
        this.counters.received++;
        // The newest known so far is skipped unless it is being fetched already.
        if (this.newest > this.delivered && this.newest !== this.fetching) this.counters.dropped++;
        this.newest = v;
      }
    }
    if (!c.more && !this.running && this.newest > this.delivered) void this.fetchNewest();
  }

  /** Fetches and delivers the newest version until none newer than the last delivered is known. */
  private async fetchNewest(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.blobs && this.newest > this.delivered) {
        const v = this.newest;
        this.fetching = v;
        let message: unknown;
        try {
          const frames = await this.blobs.get(
            weightsObjectName(v),
            this.limits.maxMessageBytes ?? Number.MAX_SAFE_INTEGER,
          );
          if (frames === undefined) {
            // Deleted meanwhile (a newer one is coming): skip it.
            this.delivered = Math.max(this.delivered, v);
            this.counters.dropped++;
            continue;
          }
          message = decodeMessage(frames, this.limits);
        } catch (e) {
          this.counters.malformed++;
          this.delivered = Math.max(this.delivered, v);
          this.onError(e);
          continue;
        }
        this.delivered = Math.max(this.delivered, v);
        if (this.closed) return;
        this.counters.delivered++;
        try {
          await this.deliver(message);
        } catch (e) {
          this.counters.callbackErrors++;
          this.onError(e);
        }
      }
    } finally {
      this.running = false;
      this.fetching = 0;
    }
  }

  stats(): SubscriberStats {
    return { ...this.counters };
  }

  /** Stops watching and releases the bucket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.status = 'closed';
    this.stopWatch?.();
    // A bucket still being opened is released by open() itself.
    await this.blobs?.close();
  }
}
