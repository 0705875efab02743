/**
 * A {@link BlobStore} on the NATS object store (`@nats-io/obj`, an optional peer dependency loaded on first use):
 * one bucket, each object the body of one edgeml message (kind 1, docs/protocol.md "NATS mapping"), stored in
 * chunks of at most the NATS server's `max_payload`.
 *
 * @module
 */
import { EdgeMLError, LimitError, ProtocolError } from '../../core/errors.js';
import type { Frame } from '../../core/types.js';
import type { BlobStore } from '../types.js';
import { decodeMessage, encodeMessage } from './framing.js';
import type { NatsLink } from './link.js';

/** Most frames one stored object may have. */
const MAX_FRAMES = 1 << 16;
/** Wait before watching again after a watch ended with the connection. */
const REWATCH_MS = 250;

type ObjModule = typeof import('@nats-io/obj');
type Bucket = Awaited<ReturnType<InstanceType<ObjModule['Objm']>['create']>>;
let loading: Promise<ObjModule> | undefined;

function objModule(): Promise<ObjModule> {
  loading ??= import('@nats-io/obj').catch((e: unknown) => {
    loading = undefined;
    throw new EdgeMLError('weights in an object store need the optional peer dependency @nats-io/obj', 'EDGEML_ERROR', {
      cause: e,
    });
  });
  return loading;
}

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** See the module comment. */
export class NatsBlobStore implements BlobStore {
  /** The stop functions of the running watches. */
  private readonly stops = new Set<() => void>();

  private constructor(
    private readonly link: NatsLink,
    private readonly bucket: Bucket,
    readonly name: string,
  ) {}

  /** Opens bucket `name` (creating it with `create`). @throws {@link EdgeMLError} when it cannot */
  static async open(link: NatsLink, name: string, create: boolean): Promise<NatsBlobStore> {
    const mod = await objModule();
    const nc = link.connection;
    if (!nc) throw new EdgeMLError('the NATS connection is down: cannot open the object store');
    try {
      const objm = new mod.Objm(nc);
      const bucket = create ? await objm.create(name, { storage: 'file' as never }) : await objm.open(name);
      return new NatsBlobStore(link, bucket, name);
    } catch (e) {
      throw new EdgeMLError(`cannot open the object store bucket ${name}: ${why(e)}`, 'EDGEML_ERROR', { cause: e });
    }
  }

  async put(name: string, frames: Frame[]): Promise<void> {
    const body = encodeMessage(frames);
    try {
      await this.bucket.putBlob({ name, options: { max_chunk_size: this.link.maxBody } }, body);
    } catch (e) {
      throw new EdgeMLError(`the object store did not store ${name}: ${why(e)}`, 'EDGEML_ERROR', { cause: e });
    }
  }

  async get(name: string, maxBytes: number): Promise<Frame[] | undefined> {
    const info = await this.bucket.info(name);
    if (!info || info.deleted) return undefined;
    if (info.size > maxBytes + 1024) {
      throw new LimitError(`object ${name} holds ${info.size} bytes, more than maxMessageBytes (${maxBytes})`);
    }
    const body = await this.bucket.getBlob(name);
    if (!body) return undefined;
    try {
      return decodeMessage(body, MAX_FRAMES);
    } catch (e) {
      throw new ProtocolError(`object ${name} is not an edgeml message: ${why(e)}`);
    }
  }

  async delete(name: string): Promise<void> {
    await this.bucket.delete(name).catch(() => undefined);
  }

  async list(): Promise<string[]> {
    const all = await this.bucket.list();
    return all.filter((i) => !i.deleted).map((i) => i.name);
  }

  watch(onChange: (change: { name: string; deleted: boolean; more: boolean }) => void): () => void {
    let stopped = false;
    let current: { stop(): void } | undefined;
    const stop = (): void => {
      stopped = true;
      current?.stop();
      this.stops.delete(stop);
    };
    this.stops.add(stop);
    void (async () => {
      while (!stopped) {
        try {
          const it = await this.bucket.watch({ includeHistory: true, ignoreDeletes: false });
          current = it;
          if (stopped) it.stop();
          for await (const info of it) {
            if (stopped) break;
            if (!info) continue;
            try {
              onChange({ name: info.name, deleted: info.deleted, more: !info.isUpdate });
            } catch {
              // The watcher guards itself.
            }
          }
        } catch {
          // The connection went, or the bucket: watch again after a pause.
        }
        if (!stopped) await new Promise((r) => setTimeout(r, REWATCH_MS).unref());
      }
    })();
    return stop;
  }

  async close(): Promise<void> {
    for (const stop of [...this.stops]) stop();
    await this.link.unref();
  }
}
