/**
 * The trainer's tables kept in journals (the `jetstream` option: NATS JetStream streams, through the transport's
 * `openJournal`): opened per table at start, loaded back into the tables at the first start, appended to per stored
 * item, purged down to the items left after `take()`. See docs/trainer.md, "Tables on JetStream".
 *
 * @module
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { Binding } from '../../messaging/rpc-server.js';
import type { Journal } from '../../transport/types.js';
import { decodeMessage, encodeMessage } from '../../wire/codec.js';
import type { TableStore } from './tables.js';

/** See the module comment. */
export class TableJournals {
  private journals = new Map<string, Journal>();
  /** The journals were loaded into the tables (at the first start only). */
  private loaded = false;
  /** Appends and removals a journal did not take, and items the table refused when loading. */
  errors = 0;

  constructor(private readonly stream: string | undefined) {}

  /** Opens each table's journal on the first `nats://` binding; loads them into the tables the first time. */
  async open(bindings: readonly Binding[], tables: ReadonlyMap<string, TableStore>): Promise<void> {
    const binding = bindings.find((b) => b.endpoint.scheme === 'nats' && b.transport.openJournal);
    if (!binding?.transport.openJournal) {
      throw new InvalidArgumentError('jetstream', 'needs a nats:// endpoint in listen (and `import "edgeml/nats"`)');
    }
    for (const [name, table] of tables) {
      const { size, maxBytes, fifo } = table.definition;
      const journal = await binding.transport.openJournal(binding.endpoint, name, {
        maxMessages: size,
        maxBytes,
        discardOld: fifo,
        ...(this.stream !== undefined ? { stream: this.stream } : {}),
      });
      this.journals.set(name, journal);
      if (this.loaded) continue;
      for (const frames of await journal.load()) {
        try {
          table.insert(decodeMessage(frames));
        } catch {
          this.errors++; // an item the table no longer takes (its limits changed)
        }
      }
    }
    this.loaded = true;
  }

  /** Appends `item` to table `name`'s journal; `undefined` while none is open. A failure is counted, and returned. */
  append(name: string, item: unknown): Promise<void> | undefined {
    const stored = this.journals.get(name)?.append(encodeMessage(item));
    stored?.catch(() => this.errors++);
    return stored;
  }

  /** Keeps the newest `n` items of table `name`'s journal (in the background; a failure is counted). */
  keepNewest(name: string, n: number): void {
    this.journals
      .get(name)
      ?.keepNewest(n)
      .catch(() => this.errors++);
  }

  /** Closes the journals (their items stay). */
  async close(): Promise<void> {
    const journals = [...this.journals.values()];
    this.journals = new Map();
    await Promise.all(journals.map((j) => j.close()));
  }
}
