/**
 * Data tables of the trainer mode: {@link DataTable} describes a table (name, capacity, what happens when it is full)
 * and {@link Table} holds its items in a bounded ring buffer, with insert counters, uniform sampling, consumption in
 * insertion order, and waiting for a minimum size. Tables are counted in items, never grow past their `size`, and
 * allocate their slots lazily.
 *
 * @module
 */
import { AbortError, ClosedError, InvalidArgumentError, LimitError, TimeoutError } from '../../core/errors.js';

/** The fields of a {@link DataTable}, as a plain object. */
export interface DataTableOptions {
  /** Name of the table; actors send to it with `trainStep(name, data)`. Non-empty. */
  name: string;
  /** Most items the table holds (a positive integer). */
  size: number;
  /**
   * What a full table does with a new item. `true`: the oldest item is dropped (and counted in `dropped`) to make
   * room. `false`: the new item is refused with a `LimitError` (counted in `rejected`), so nothing is lost silently;
   * make room with `take()`. @default true
   */
  fifo?: boolean;
}

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}

/** The description of one data table: its name, its capacity in items, and its policy when full. */
export class DataTable {
  /** Name of the table. */
  readonly name: string;
  /** Most items the table holds. */
  readonly size: number;
  /** `true`: a full table drops its oldest item; `false`: it refuses new items. */
  readonly fifo: boolean;

  /**
   * @param options the table's fields
   * @param field where the options sit in a larger config, for error messages
   * @throws {@link InvalidArgumentError} naming the invalid field
   */
  constructor(options: DataTableOptions, field = 'dataTable') {
    if (typeof options !== 'object' || options === null) fail(field, 'must be a DataTable or { name, size, fifo? }');
    for (const key of Object.keys(options)) {
      if (key !== 'name' && key !== 'size' && key !== 'fifo') fail(`${field}.${key}`, 'unknown field');
    }
    const { name, size, fifo } = options;
    if (typeof name !== 'string' || name.length === 0) fail(`${field}.name`, 'must be a non-empty string');
    if (!Number.isSafeInteger(size) || size < 1) fail(`${field}.size`, `must be a positive integer, got ${size}`);
    if (fifo !== undefined && typeof fifo !== 'boolean') fail(`${field}.fifo`, 'must be a boolean');
    this.name = name;
    this.size = size;
    this.fifo = fifo ?? true;
  }

  /** A {@link DataTable} as is, or a new one from plain options. */
  static from(value: DataTable | DataTableOptions, field = 'dataTable'): DataTable {
    return value instanceof DataTable ? value : new DataTable(value, field);
  }

  /** The plain form: `{ name, size, fifo }`. */
  toJSON(): Required<DataTableOptions> {
    return { name: this.name, size: this.size, fifo: this.fifo };
  }
}

/** Counters of one table. */
export interface TableStats {
  /** Name of the table. */
  name: string;
  /** Most items the table holds (its `size` in the config). */
  capacity: number;
  /** Whether a full table drops its oldest item (`true`) or refuses new ones (`false`). */
  fifo: boolean;
  /** Items held now. */
  size: number;
  /** Items stored since the table was created (also those dropped or taken since). */
  inserted: number;
  /** Items dropped to make room for newer ones (FIFO tables). */
  dropped: number;
  /** Items refused because the table was full (non-FIFO tables). */
  rejected: number;
  /** Items removed with `take()`. */
  taken: number;
}

/** Options of {@link Table.sample}. */
export interface SampleOptions {
  /** Draw with replacement (an item may come several times). @default true */
  replace?: boolean;
  /** Source of uniform numbers in [0, 1). @default Math.random */
  random?: () => number;
}

/** Options of {@link Table.waitForSize}. */
export interface WaitOptions {
  /** Deadline in milliseconds; without one the wait lasts until the size is reached or the server stops. */
  timeoutMs?: number;
  /** Cancels the wait with an {@link AbortError}. */
  signal?: AbortSignal;
}

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** The items of one data table: a bounded ring buffer in insertion order. */
export class Table<T = unknown> {
  private slots: (T | undefined)[] = [];
  private head = 0;
  private count = 0;
  private readonly waiters = new Set<Waiter>();
  private counters = { inserted: 0, dropped: 0, rejected: 0, taken: 0 };

  constructor(readonly definition: DataTable) {}

  /** Name of the table. */
  get name(): string {
    return this.definition.name;
  }

  /** Items held now. */
  get size(): number {
    return this.count;
  }

  /**
   * Stores `item` as the newest. A full FIFO table first drops its oldest item.
   * @throws {@link LimitError} when a non-FIFO table is full (nothing is stored)
   */
  insert(item: T): void {
    const cap = this.definition.size;
    if (this.count < cap) {
      const at = (this.head + this.count) % cap;
      // While the slots are not all allocated, head + count === slots.length, so `at` is the next new slot.
      if (at === this.slots.length) this.slots.push(item);
      else this.slots[at] = item;
      this.count++;
    } else if (this.definition.fifo) {
      this.slots[this.head] = item;
      this.head = (this.head + 1) % cap;
      this.counters.dropped++;
    } else {
      this.counters.rejected++;
      throw new LimitError(
        `table ${JSON.stringify(this.name)} is full (${cap} items) and not FIFO; take() items first`,
      );
    }
    this.counters.inserted++;
    if (this.waiters.size > 0) {
      for (const w of [...this.waiters]) {
        if (this.count >= w.n) w.resolve();
      }
    }
  }

  /** The items, oldest first (a new array; the items themselves are not copied). */
  items(): T[] {
    const out = new Array<T>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.at(i);
    return out;
  }

  private at(i: number): T {
    return this.slots[(this.head + i) % this.definition.size] as T;
  }

  /**
   * Draws `n` items uniformly at random. With replacement (the default) the result has `n` items (none when the
   * table is empty); without, it has `min(n, size)` distinct items. The order is random.
   */
  sample(n: number, options: SampleOptions = {}): T[] {
    if (!Number.isSafeInteger(n) || n < 0) fail('n', `must be a non-negative integer, got ${n}`);
    const random = options.random ?? Math.random;
    const count = this.count;
    const pick = (bound: number): number => Math.min(bound - 1, Math.floor(random() * bound));
    if (count === 0) return [];
    if (options.replace ?? true) {
      const out = new Array<T>(n);
      for (let i = 0; i < n; i++) out[i] = this.at(pick(count));
      return out;
    }
    // Partial Fisher–Yates over the indices, with the swaps kept in a map: O(k) time and memory.
    const k = Math.min(n, count);
    const swapped = new Map<number, number>();
    const out = new Array<T>(k);
    for (let i = 0; i < k; i++) {
      const j = i + pick(count - i);
      const vj = swapped.get(j) ?? j;
      swapped.set(j, swapped.get(i) ?? i);
      out[i] = this.at(vj);
    }
    return out;
  }

  /** Removes and returns the oldest `n` items (all of them by default), oldest first. */
  take(n: number = this.count): T[] {
    if (!Number.isSafeInteger(n) || n < 0) fail('n', `must be a non-negative integer, got ${n}`);
    const k = Math.min(n, this.count);
    const cap = this.definition.size;
    const out = new Array<T>(k);
    for (let i = 0; i < k; i++) {
      out[i] = this.slots[this.head] as T;
      this.slots[this.head] = undefined;
      this.head = (this.head + 1) % cap;
    }
    this.count -= k;
    this.counters.taken += k;
    if (this.count === 0) {
      this.slots = [];
      this.head = 0;
    }
    return out;
  }

  /** Counters and current size. */
  stats(): TableStats {
    return {
      name: this.name,
      capacity: this.definition.size,
      fifo: this.definition.fifo,
      size: this.count,
      ...this.counters,
    };
  }

  /**
   * Resolves once the table holds at least `n` items (at once when it already does).
   * @throws {@link InvalidArgumentError} when `n` exceeds the table's capacity (the wait could never end),
   * {@link TimeoutError} at the deadline, {@link AbortError} on abort, {@link ClosedError} when {@link cancelWaits}
   * runs (the server stopped)
   */
  waitForSize(n: number, options: WaitOptions = {}): Promise<void> {
    if (!Number.isSafeInteger(n) || n < 0)
      return Promise.reject(new InvalidArgumentError('n', 'must be an integer ≥ 0'));
    if (n > this.definition.size) {
      return Promise.reject(
        new InvalidArgumentError(
          'n',
          `table ${JSON.stringify(this.name)} never holds more than ${this.definition.size}`,
        ),
      );
    }
    if (this.count >= n) return Promise.resolve();
    const { timeoutMs, signal } = options;
    if (timeoutMs !== undefined && !(timeoutMs > 0)) {
      return Promise.reject(new InvalidArgumentError('timeoutMs', 'must be a positive number'));
    }
    if (signal?.aborted) return Promise.reject(new AbortError('wait aborted', { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => done(new AbortError(`wait for ${n} items aborted`, { cause: signal?.reason }));
      const done = (error?: unknown): void => {
        this.waiters.delete(waiter);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const waiter: Waiter = { n, resolve: () => done(), reject: done };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          done(
            new TimeoutError(
              `table ${JSON.stringify(this.name)} held ${this.count} of ${n} items after ${timeoutMs} ms`,
              timeoutMs,
            ),
          );
        }, timeoutMs);
      }
    });
  }

  /** Rejects every pending {@link waitForSize} with a {@link ClosedError}. */
  cancelWaits(reason = 'trainer stopped'): void {
    for (const w of [...this.waiters]) w.reject(new ClosedError(reason));
  }

  /** Replaces the content and counters (used when loading a saved file). Items beyond the capacity are refused. */
  restore(items: readonly T[], counters: Omit<TableStats, 'name' | 'capacity' | 'fifo' | 'size'>): void {
    if (items.length > this.definition.size) {
      fail(`${this.name}.items`, `${items.length} items exceed the table's size ${this.definition.size}`);
    }
    this.slots = [...items];
    this.head = 0;
    this.count = items.length;
    this.counters = { ...counters };
  }
}
