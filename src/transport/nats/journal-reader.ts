/**
 * A {@link JournalReader} on NATS JetStream: a pull consumer on the stream a {@link NatsJournal} writes. Either
 * ordered (its position lives as long as the reader; at most {@link READ_AHEAD} messages fetched ahead of the caller)
 * or durable (named, kept by the NATS server, shared by the readers of that name; one message pulled at a time, so
 * that none waits in a reader that closes: each is acknowledged when the next one is asked for or the reader closes,
 * and one that arrives while it closes is handed back at once).
 *
 * @module
 */
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { EdgeMLError, NotFoundError } from '../../core/errors.js';
import type { Frame } from '../../core/types.js';
import type { JournalReader, JournalReadOptions } from '../types.js';
import { decodeMessage, FramingError } from './framing.js';
import { jetStreamModule } from './journal.js';
import type { NatsLink } from './link.js';

/** Most messages fetched ahead of the caller (each at most the NATS server's `max_payload`). */
export const READ_AHEAD = 16;
/** How long one pull of a durable reader waits on the NATS server before it asks again (nats.js's minimum). */
const PULL_MS = 1000;
/** Most frames one journaled message may have. */
const MAX_FRAMES = 1 << 16;

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** See the module comment. */
export class NatsJournalReader implements JournalReader {
  /** An ordered reader's messages. */
  private iterator: AsyncIterator<JsMsg> | undefined;
  /** A durable reader's pull under way. */
  private pulling: Promise<JsMsg | null | undefined> | undefined;
  /** The message handed out last, acknowledged when the next is asked for. */
  private unacked: JsMsg | undefined;
  private closed = false;
  skipped = 0;

  private constructor(
    private readonly link: NatsLink,
    private readonly consumer: Consumer,
    private readonly ordered: ConsumerMessages | undefined,
    readonly stream: string,
  ) {}

  /**
   * Opens a consumer on `stream`.
   * @throws {@link NotFoundError} when the stream does not exist; {@link EdgeMLError} when the consumer cannot be made
   */
  static async open(link: NatsLink, stream: string, options: JournalReadOptions): Promise<NatsJournalReader> {
    const mod = await jetStreamModule();
    const nc = link.connection;
    if (!nc) throw new EdgeMLError('the NATS connection is down: cannot read the JetStream stream');
    const jsm = await mod.jetstreamManager(nc);
    const exists = await jsm.streams.info(stream).then(
      () => true,
      () => false,
    );
    if (!exists) {
      throw new NotFoundError(
        `no JetStream stream ${stream}: is a trainer with the jetstream option serving this table (same stream)?`,
      );
    }
    const deliver = options.from === 'new' ? mod.DeliverPolicy.New : mod.DeliverPolicy.All;
    try {
      if (options.durable === undefined) {
        const consumer = await mod.jetstream(nc).consumers.get(stream, { deliver_policy: deliver });
        const messages = await consumer.consume({ max_messages: READ_AHEAD });
        return new NatsJournalReader(link, consumer, messages, stream);
      }
      const known = await jsm.consumers.info(stream, options.durable).then(
        () => true,
        () => false,
      );
      if (!known) {
        await jsm.consumers.add(stream, {
          durable_name: options.durable,
          ack_policy: mod.AckPolicy.Explicit,
          deliver_policy: deliver,
        });
      }
      const consumer = await mod.jetstream(nc).consumers.get(stream, options.durable);
      return new NatsJournalReader(link, consumer, undefined, stream);
    } catch (e) {
      throw new EdgeMLError(`cannot read the JetStream stream ${stream}: ${why(e)}`, 'EDGEML_ERROR', { cause: e });
    }
  }

  async next(): Promise<Frame[] | undefined> {
    this.ack();
    while (!this.closed) {
      const m = await this.pull();
      if (m === undefined) return undefined;
      if (m === null) continue; // a pull that found nothing in time: ask again
      if (this.closed) return undefined; // (an ordered reader's message: nothing to hand back)
      try {
        const frames = decodeMessage(m.data, MAX_FRAMES);
        this.unacked = m;
        return frames;
      } catch (e) {
        // Not one of ours (someone else published on the table's subject): acknowledged and skipped.
        if (!this.ordered) m.ack();
        if (!(e instanceof FramingError)) throw e;
        this.skipped++;
      }
    }
    return undefined;
  }

  /** The next message; `null` after a pull that found none in time; `undefined` once the messages ended. */
  private async pull(): Promise<JsMsg | null | undefined> {
    if (this.ordered) {
      this.iterator ??= this.ordered[Symbol.asyncIterator]();
      const r = await this.iterator.next();
      return r.done ? undefined : r.value;
    }
    const pulling = (async () => {
      const m = await this.consumer.next({ expires: PULL_MS });
      // Closed meanwhile: handed back at once, for the next reader of the name.
      if (m && this.closed) {
        m.nak();
        return undefined;
      }
      return m;
    })();
    this.pulling = pulling;
    try {
      return await pulling;
    } catch (e) {
      if (this.closed) return undefined;
      throw new EdgeMLError(`cannot read the JetStream stream ${this.stream}: ${why(e)}`, 'EDGEML_ERROR', { cause: e });
    } finally {
      if (this.pulling === pulling) this.pulling = undefined;
    }
  }

  /** Acknowledges the message handed out last (a durable reader's; an ordered consumer takes no acks). */
  private ack(): void {
    if (!this.ordered) this.unacked?.ack();
    this.unacked = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.ack();
    this.closed = true;
    if (this.ordered) {
      // nats.js ends the messages only once the iterator has passed what it holds: stop, then read to the end.
      this.ordered.stop();
      this.iterator ??= this.ordered[Symbol.asyncIterator]();
      while (!(await this.iterator.next().catch(() => ({ done: true }))).done);
    }
    // A durable pull under way ends within PULL_MS; a message it brings is handed back (see pull()) before the
    // connection goes, so that the next reader of the name gets it at once.
    else await this.pulling?.catch(() => undefined);
    await this.link.unref();
  }
}
