/**
 * Data tables of the trainer mode: {@link DataTable} describes a table (name, capacity, what happens when it is full)
 * and {@link TableStore} holds its items in a bounded ring buffer, with insert counters, uniform sampling, consumption in
 * insertion order, and waiting for a minimum size. Tables are bounded in items (`size`) and in bytes (`maxBytes`,
 * measured by {@link payloadBytes}), never grow past either, and allocate their slots lazily.
 *
 * @module
 */

import { withDeadline } from '../../core/deadline.js';
import { DEFAULT_MAX_TABLE_BYTES } from '../../core/defaults.js';
import { ClosedError, InvalidArgumentError, LimitError } from '../../core/errors.js';
import { payloadBytes } from '../../wire/payload-bytes.js';

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
  /**
   * Most bytes the table holds, items measured by {@link payloadBytes} (their tensor and byte data plus a small
   * constant per value and item). A FIFO table drops its oldest items to fit a new one; a non-FIFO table refuses
   * it with a `LimitError`; an item larger than `maxBytes` alone is always refused. Left out of the handshake and
   * of `toJSON()` while it is the default. @default {@link DEFAULT_MAX_TABLE_BYTES}
   */
  maxBytes?: number;
}

/** The plain form of a {@link DataTable}: `maxBytes` only when it is not the default. */
export type DataTableJSON = Required<Omit<DataTableOptions, 'maxBytes'>> & { maxBytes?: number };

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
  /** Most bytes the table holds (see {@link DataTableOptions.maxBytes}). */
  readonly maxBytes: number;

  /**
   * @param options the table's fields
   * @param field where the options sit in a larger config, for error messages
   * @throws {@link InvalidArgumentError} naming the invalid field
   */
  constructor(options: DataTableOptions, field = 'dataTable') {
    if (typeof options !== 'object' || options === null) fail(field, 'must be a DataTable or { name, size, fifo? }');
    for (const key of Object.keys(options)) {
      if (key !== 'name' && key !== 'size' && key !== 'fifo' && key !== 'maxBytes')
        fail(`${field}.${key}`, 'unknown field');
    }
    const { name, size, fifo, maxBytes } = options;
    if (typeof name !== 'string' || name.length === 0) fail(`${field}.name`, 'must be a non-empty string');
    if (!Number.isSafeInteger(size) || size < 1) fail(`${field}.size`, `must be a positive integer, got ${size}`);
    if (fifo !== undefined && typeof fifo !== 'boolean') fail(`${field}.fifo`, 'must be a boolean');
    if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes < 1)) {
      fail(`${field}.maxBytes`, `must be a positive integer, got ${maxBytes}`);
    }
    this.name = name;
    this.size = size;
    this.fifo = fifo ?? true;
    this.maxBytes = maxBytes ?? DEFAULT_MAX_TABLE_BYTES;
  }

  /** A {@link DataTable} as is, or a new one from plain options. */
  static from(value: DataTable | DataTableOptions, field = 'dataTable'): DataTable {
    return value instanceof DataTable ? value : new DataTable(value, field);
  }

  /** The plain form: `{ name, size, fifo }`, plus `maxBytes` when it is not the default. */
  toJSON(): DataTableJSON {
    const out: DataTableJSON = { name: this.name, size: this.size, fifo: this.fifo };
    if (this.maxBytes !== DEFAULT_MAX_TABLE_BYTES) out.maxBytes = this.maxBytes;
    return out;
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
  /** Most bytes the table holds (its `maxBytes`). */
  maxBytes: number;
  /** Bytes held now, items measured by `payloadBytes`. */
  bytes: number;
  /** Items stored since the table was created (also those dropped or taken since). */
  inserted: number;
  /** Items dropped to make room for newer ones (FIFO tables), for want of slots or of bytes. */
  dropped: number;
  /** Items refused because the table was full (non-FIFO tables), or larger than `maxBytes` alone. */
  rejected: number;
  /** Items removed with `take()`. */
  taken: number;
}

/** Options of {@link TableStore.sample}. */
export interface SampleOptions {
  /** Draw with replacement (an item may come several times). @default true */
  replace?: boolean;
  /** Source of uniform numbers in [0, 1). @default Math.random */
  random?: () => number;
}

/** Options of {@link TableStore.waitForSize}. */
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
export class TableStore<T = unknown> {
  private slots: (T | undefined)[] = [];
  /** {@link payloadBytes} of the item in the slot of the same index. */
  private sizes: number[] = [];
  private head = 0;
  private count = 0;
  private held = 0;
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

  /** Bytes held now (items measured by {@link payloadBytes}). */
  get bytes(): number {
    return this.held;
  }

  /** Removes the oldest item (the table is not empty). */
  private dropOldest(): void {
    this.held -= this.sizes[this.head]!;
    this.slots[this.head] = undefined;
    this.sizes[this.head] = 0;
    this.head = (this.head + 1) % this.definition.size;
    this.count--;
  }

  /**
   * Stores `item` as the newest. A full FIFO table first drops its oldest items, as many as it takes to stay within
   * both `size` and `maxBytes`.
   * @throws {@link LimitError} when a non-FIFO table has no room for it (in items or bytes), or the item alone is
   * larger than `maxBytes` (nothing is stored, nothing is dropped)
   */
  insert(item: T): void {
    const { size: cap, maxBytes, fifo } = this.definition;
    const bytes = payloadBytes(item);
    if (bytes > maxBytes) {
      this.counters.rejected++;
      throw new LimitError(
        `item of ${bytes} bytes exceeds the maxBytes ${maxBytes} of table ${JSON.stringify(this.name)}`,
      );
    }
    if (this.count >= cap || this.held + bytes > maxBytes) {
      if (!fifo) {
        this.counters.rejected++;
        throw new LimitError(
          this.count >= cap
            ? `table ${JSON.stringify(this.name)} is full (${cap} items) and not FIFO; take() items first`
            : `table ${JSON.stringify(this.name)} holds ${this.held} of its ${maxBytes} bytes and is not FIFO: no room for an item of ${bytes}; take() items first`,
        );
      }
      while (this.count > 0 && (this.count >= cap || this.held + bytes > maxBytes)) {
        this.dropOldest();
        this.counters.dropped++;
      }
    }
    const at = (this.head + this.count) % cap;
    // While the slots are not all allocated, head + count === slots.length, so `at` is the next new slot.
    if (at === this.slots.length) {
      this.slots.push(item);
      this.sizes.push(bytes);
    } else {
      this.slots[at] = item;
      this.sizes[at] = bytes;
    }
    this.count++;
    this.held += bytes;
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
    const out = new Array<T>(k);
    for (let i = 0; i < k; i++) {
      out[i] = this.slots[this.head] as T;
      this.dropOldest();
    }
    this.counters.taken += k;
    if (this.count === 0) {
      this.slots = [];
      this.sizes = [];
      this.head = 0;
      this.held = 0;
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
      maxBytes: this.definition.maxBytes,
      bytes: this.held,
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
    return withDeadline<void>(
      {
        ...options,
        what: `wait for ${n} items`,
        timeoutMessage: () =>
          `table ${JSON.stringify(this.name)} held ${this.count} of ${n} items after ${options.timeoutMs} ms`,
      },
      (settle) => {
        const waiter: Waiter = { n, resolve: () => settle.resolve(), reject: (e) => settle.reject(e) };
        this.waiters.add(waiter);
        return () => this.waiters.delete(waiter);
      },
    );
  }

  /** Rejects every pending {@link waitForSize} with a {@link ClosedError}. */
  cancelWaits(reason = 'trainer stopped'): void {
    for (const w of [...this.waiters]) w.reject(new ClosedError(reason));
  }

  /**
   * Replaces the content and counters (used when loading a saved file). Items beyond the capacity, in items or bytes,
   * are refused.
   */
  restore(
    items: readonly T[],
    counters: Omit<TableStats, 'name' | 'capacity' | 'fifo' | 'size' | 'maxBytes' | 'bytes'>,
  ): void {
    if (items.length > this.definition.size) {
      fail(`${this.name}.items`, `${items.length} items exceed the table's size ${this.definition.size}`);
    }
    const sizes = items.map((item) => payloadBytes(item));
    const held = sizes.reduce((a, b) => a + b, 0);
    if (held > this.definition.maxBytes) {
      fail(`${this.name}.items`, `${held} bytes of items exceed the table's maxBytes ${this.definition.maxBytes}`);
    }
    this.slots = [...items];
    this.sizes = sizes;
    this.held = held;
    this.head = 0;
    this.count = items.length;
    this.counters = { ...counters };
  }
}
