/**
 * A trainer table read from another process: a second learner, an evaluator or a recorder follows the items a
 * trainer with the `jetstream` option stores (through the transport's `readJournal`: NATS JetStream), oldest first,
 * then each new one as actors send it. See docs/trainer.md, "A second learner on the same table".
 *
 * @module
 */
import { ClosedError, InvalidArgumentError } from '../../core/errors.js';
import { ClientEndpoint, type ClientOptions } from '../../messaging/mode-options.js';
import type { JournalReader } from '../../transport/types.js';
import { decodeMessage } from '../../wire/codec.js';

/** Options of {@link TableReader.connect}. */
export interface TableReaderOptions extends Pick<ClientOptions, 'nats' | 'limits' | 'transport'> {
  /** The trainer's `jetstream.stream`, when it set one. @default the trainer's default, `<prefix>_<service>` */
  stream?: string;
  /**
   * A name (1..64 of `[A-Za-z0-9_-]`) under which the NATS server keeps the reader's position: a reader connected
   * again with it goes on after the last item it had read, and readers connected at once with one name share the
   * items (each goes to one of them). Without it, each reader reads every item and its position ends with it.
   */
  durable?: string;
  /** Where a reader without a kept position starts: `'all'`, the oldest item the table holds; `'new'`, the next one
   * stored. @default 'all' */
  from?: 'all' | 'new';
}

/** Counters of a {@link TableReader}. */
export interface TableReaderStats {
  /** Items handed out. */
  read: number;
  /** Messages in the table's stream skipped: not edgeml messages, or not decoding within the limits. */
  skipped: number;
}

/**
 * Reads the items of one table of a trainer that keeps its tables on JetStream (`jetstream` option), from any
 * process: each item as the trainer's table holds it (the `data` of a train step, or what `insert()` was given), in
 * the order they were stored, waiting for new ones. An item counts as read once the next one is asked for, or the
 * reader is closed: a durable reader that dies holding one gets it again. Items the trainer removes with `take()`, or
 * that its table's limits drop, before a reader reaches them, are not read.
 *
 * @example
 * ```ts
 * import 'edgeml/nats';
 * import { TableReader } from 'edgeml';
 *
 * const reader = await TableReader.connect('nats://127.0.0.1:4222/trainer', 'agent1', { durable: 'learner2' });
 * for await (const item of reader) {
 *   console.log(item); // each train step's data, oldest first, then the new ones
 *   break;
 * }
 * await reader.close();
 * ```
 */
export class TableReader<T = unknown> implements AsyncIterable<T> {
  private readonly counters: TableReaderStats = { read: 0, skipped: 0 };
  /** The last `next()`, so that calls made at once are answered in turn. */
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly journal: JournalReader,
    private readonly options: TableReaderOptions,
    /** The table read. */
    readonly table: string,
  ) {}

  /**
   * Connects to the table's stream.
   * @param target the trainer's endpoint URL (`nats://host:4222/<service>`)
   * @param table the table's name, as in the trainer's config
   * @throws {@link InvalidArgumentError} for a bad target or option, or a transport without journals; a
   * `NotFoundError` when no such table is kept (no trainer with `jetstream` on that service, or another `stream`)
   */
  static async connect<T = unknown>(
    target: string,
    table: string,
    options: TableReaderOptions = {},
  ): Promise<TableReader<T>> {
    if (typeof target !== 'string' || !target.includes('://')) {
      throw new InvalidArgumentError('target', 'must be an endpoint URL, such as nats://127.0.0.1:4222/trainer');
    }
    if (typeof table !== 'string' || table.length === 0) throw new InvalidArgumentError('table', 'must be a name');
    const from = options.from ?? 'all';
    if (from !== 'all' && from !== 'new') throw new InvalidArgumentError('from', "must be 'all' or 'new'");
    const { endpoint, transport } = new ClientEndpoint(target, undefined, options);
    if (!transport.readJournal) {
      throw new InvalidArgumentError('target', `the ${endpoint.scheme}:// transport keeps no tables (use nats://)`);
    }
    const journal = await transport.readJournal(endpoint, table, {
      from,
      ...(options.stream !== undefined ? { stream: options.stream } : {}),
      ...(options.durable !== undefined ? { durable: options.durable } : {}),
    });
    return new TableReader<T>(journal, options, table);
  }

  /**
   * The next item, waiting until one is stored.
   * @throws {@link ClosedError} once the reader is closed (also for a call waiting when it closes)
   */
  next(): Promise<T> {
    const read = this.tail.then(() => this.read());
    this.tail = read.catch(() => undefined);
    return read;
  }

  private async read(): Promise<T> {
    while (!this.closed) {
      const frames = await this.journal.next();
      if (frames === undefined) break;
      try {
        const item = decodeMessage(frames, this.options.limits) as T;
        this.counters.read++;
        return item;
      } catch {
        this.counters.skipped++;
      }
    }
    throw new ClosedError(`the reader of table ${this.table} is closed`);
  }

  /** Iterates over the items until the reader is closed (or the loop ends, which closes it). */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      while (!this.closed) {
        let item: T;
        try {
          item = await this.next();
        } catch (e) {
          if (e instanceof ClosedError) return;
          throw e;
        }
        yield item;
      }
    } finally {
      await this.close();
    }
  }

  /** Counters so far. */
  stats(): TableReaderStats {
    return { read: this.counters.read, skipped: this.counters.skipped + this.journal.skipped };
  }

  /** Stops reading (the last item handed out counts as read) and releases the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.journal.close();
  }

  /** Same as {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
