/**
 * A {@link Journal} on NATS JetStream: one stream per journal, limited like the table it backs (max msgs, max
 * bytes, discard old for FIFO tables, new otherwise), each message a body of kind 1 (docs/protocol.md, "NATS
 * mapping"). `@nats-io/jetstream` (an optional peer dependency) is loaded on first use.
 *
 * @module
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { EdgeMLError, LimitError } from '../../core/errors.js';
import type { Frame } from '../../core/types.js';
import type { Journal, JournalOptions } from '../types.js';
import { decodeMessage, encodeMessage } from './framing.js';
import type { NatsLink } from './link.js';
import { topicToken } from './subjects.js';

/** Most frames one journaled message may have. */
const MAX_FRAMES = 1 << 16;

export type JetStreamModule = typeof import('@nats-io/jetstream');
let loading: Promise<JetStreamModule> | undefined;

/** `@nats-io/jetstream`, loaded once. @throws {@link EdgeMLError} when it is not installed */
export function jetStreamModule(): Promise<JetStreamModule> {
  loading ??= import('@nats-io/jetstream').catch((e: unknown) => {
    loading = undefined;
    throw new EdgeMLError('JetStream tables need the optional peer dependency @nats-io/jetstream', 'EDGEML_ERROR', {
      cause: e,
    });
  });
  return loading;
}

/** A stream name from a name of any characters: letters, digits, `_` and `-` kept, the rest as `%XX` → `_XX`. */
export function streamToken(name: string): string {
  return topicToken(name).replace(/%/g, '_');
}

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** See the module comment. */
export class NatsJournal implements Journal {
  private constructor(
    private readonly link: NatsLink,
    private readonly mod: JetStreamModule,
    private readonly nc: NatsConnection,
    readonly stream: string,
    readonly subject: string,
  ) {}

  /** Creates the stream, or updates its limits to `options`. */
  static async open(link: NatsLink, stream: string, subject: string, options: JournalOptions): Promise<NatsJournal> {
    const mod = await jetStreamModule();
    const nc = link.connection;
    if (!nc) throw new EdgeMLError('the NATS connection is down: cannot open the JetStream stream');
    const config = {
      name: stream,
      subjects: [subject],
      max_msgs: options.maxMessages,
      max_bytes: options.maxBytes,
      discard: options.discardOld ? mod.DiscardPolicy.Old : mod.DiscardPolicy.New,
      storage: mod.StorageType.File,
    };
    try {
      const jsm = await mod.jetstreamManager(nc);
      const exists = await jsm.streams.info(stream).then(
        () => true,
        () => false,
      );
      if (exists) await jsm.streams.update(stream, config);
      else await jsm.streams.add(config);
    } catch (e) {
      throw new EdgeMLError(`cannot open the JetStream stream ${stream}: ${why(e)}`, 'EDGEML_ERROR', { cause: e });
    }
    return new NatsJournal(link, mod, nc, stream, subject);
  }

  async load(): Promise<Frame[][]> {
    const jsm = await this.mod.jetstreamManager(this.nc);
    const { state } = await jsm.streams.info(this.stream);
    const out: Frame[][] = [];
    if (state.messages === 0) return out;
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(this.stream, { seq }).catch(() => null);
      if (!m) continue; // deleted, or purged meanwhile
      try {
        out.push(decodeMessage(m.data, MAX_FRAMES));
      } catch {
        // Not one of ours (someone else published on the subject): skipped.
      }
    }
    return out;
  }

  async append(frames: Frame[]): Promise<void> {
    const body = encodeMessage(frames);
    if (body.byteLength > this.link.maxBody) {
      throw new LimitError(
        `an item of ${body.byteLength} bytes does not fit in one JetStream message (the NATS server's max_payload: ${this.link.maxBody})`,
      );
    }
    try {
      await this.mod.jetstream(this.nc).publish(this.subject, body);
    } catch (e) {
      throw new LimitError(`the JetStream stream ${this.stream} did not store the item: ${why(e)}`, { cause: e });
    }
  }

  async keepNewest(n: number): Promise<void> {
    const jsm = await this.mod.jetstreamManager(this.nc);
    await jsm.streams.purge(this.stream, { keep: n });
  }

  async close(): Promise<void> {
    await this.link.unref();
  }
}
