/**
 * Dynamic batching: gathers items submitted by concurrent callers into batches, calls a batch function once per
 * batch, and hands each caller its own result (or its own error).
 *
 * @module
 */
import { EdgeMLError, InvalidArgumentError } from '../core/errors.js';

/** Options of dynamic batching. */
export interface BatchOptions {
  /** Largest batch; a batch is dispatched as soon as it has this many items. */
  maxBatchSize: number;
  /** Longest a batch waits for more items after its first one arrived, in milliseconds. */
  maxDelayMs: number;
  /**
   * Batches that may run at once. With the default, a batch is dispatched at its deadline even while earlier batches
   * still run, so no item waits longer than `maxDelayMs` to be dispatched; set 1 to run batches one at a time (a batch
   * that is due then waits for the running one).
   * @default Infinity
   */
  maxConcurrency?: number;
}

/** Counters of a batcher. */
export interface BatchStats {
  /** Batches dispatched. */
  batches: number;
  /** Items dispatched. */
  items: number;
  /** How many batches of each size were formed (`sizes[n]` = batches of n items). */
  sizes: Record<number, number>;
  /** Largest batch formed. */
  maxSize: number;
  /** Mean batch size. */
  meanSize: number;
}

/** A batch function: gets the items of one batch, returns one result per item in the same order. An `Error` in the
 * results rejects only that item's caller. */
export type BatchFunction<I, O> = (items: I[]) => O[] | Promise<O[]>;

interface Waiter<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/** Validates batch options; throws an {@link InvalidArgumentError} naming the bad field. */
export function checkBatchOptions(options: BatchOptions): void {
  if (!Number.isInteger(options.maxBatchSize) || options.maxBatchSize < 1) {
    throw new InvalidArgumentError('batch.maxBatchSize', 'must be a positive integer');
  }
  if (!(options.maxDelayMs >= 0) || !Number.isFinite(options.maxDelayMs)) {
    throw new InvalidArgumentError('batch.maxDelayMs', 'must be a finite number >= 0');
  }
  const c = options.maxConcurrency;
  if (c !== undefined && !(c === Number.POSITIVE_INFINITY || (Number.isInteger(c) && c >= 1))) {
    throw new InvalidArgumentError('batch.maxConcurrency', 'must be a positive integer or Infinity');
  }
}

/** Gathers submitted items into batches for a batch function. */
export class Batcher<I, O> {
  private pending: Waiter<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly ready: Waiter<I, O>[][] = [];
  private running = 0;
  private readonly counters = { batches: 0, items: 0, maxSize: 0, sizes: {} as Record<number, number> };

  constructor(
    private readonly fn: BatchFunction<I, O>,
    private readonly options: BatchOptions,
  ) {
    checkBatchOptions(options);
  }

  /** Adds one item; resolves with its result once its batch has run. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.options.maxBatchSize) this.cut();
      else if (this.timer === undefined) {
        this.timer = setTimeout(() => this.cut(), this.options.maxDelayMs);
      }
    });
  }

  /** Counters. */
  stats(): BatchStats {
    const c = this.counters;
    return {
      batches: c.batches,
      items: c.items,
      sizes: { ...c.sizes },
      maxSize: c.maxSize,
      meanSize: c.batches === 0 ? 0 : c.items / c.batches,
    };
  }

  private cut(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    this.ready.push(this.pending);
    this.pending = [];
    this.pump();
  }

  private pump(): void {
    const limit = this.options.maxConcurrency ?? Number.POSITIVE_INFINITY;
    while (this.ready.length > 0 && this.running < limit) {
      const batch = this.ready.shift()!;
      this.running++;
      void this.run(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async run(batch: Waiter<I, O>[]): Promise<void> {
    const c = this.counters;
    c.batches++;
    c.items += batch.length;
    c.maxSize = Math.max(c.maxSize, batch.length);
    c.sizes[batch.length] = (c.sizes[batch.length] ?? 0) + 1;
    let results: O[];
    try {
      results = await this.fn(batch.map((w) => w.item));
    } catch (e) {
      for (const w of batch) w.reject(e);
      return;
    }
    if (!Array.isArray(results) || results.length !== batch.length) {
      const got = Array.isArray(results) ? `${results.length} results` : typeof results;
      const error = new EdgeMLError(`batch function must return an array of ${batch.length} results, got ${got}`);
      for (const w of batch) w.reject(error);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const r = results[i];
      if (r instanceof Error) batch[i]!.reject(r);
      else batch[i]!.resolve(r as O);
    }
  }
}
