/**
 * One connection to a NATS server, shared by the sockets of one transport: loads nats.js (an optional peer
 * dependency) on first use, connects (clients keep trying until the server is there; servers fail at once), turns
 * the connection's status iterator into edgeml statuses, and sends bodies larger than the server's `max_payload` in
 * chunks, flushing every few chunks so a large message does not flood the connection. nats.js errors never reach a
 * user: they become status changes or are dropped.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { AuthenticationError, EdgeMLError } from '../../core/errors.js';
import type { NatsOptions } from '../nats-options.js';
import { chunkCount, encodeChunk, MESSAGE_ID_BYTES } from './framing.js';

/** Chunks sent between two flushes of a chunked message. */
const FLUSH_EVERY_CHUNKS = 8;
/** First and longest wait between two connection attempts of a client. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 1_000;

/** What a link reports to its sockets. */
export type LinkState = 'connecting' | 'up' | 'down' | 'unauthorized' | 'closed';

type NatsModule = typeof import('@nats-io/transport-node');
let loading: Promise<NatsModule> | undefined;
/** Loads nats.js (once); rejects when `@nats-io/transport-node` is not installed. */
export function natsModule(): Promise<NatsModule> {
  loading ??= import('@nats-io/transport-node');
  return loading;
}

function isAuthError(e: unknown): boolean {
  const s = `${(e as Error)?.name ?? ''} ${(e as Error)?.message ?? ''} ${(e as { code?: string })?.code ?? ''}`;
  return /authori[sz]ation|authentication|permissions? violation/i.test(s);
}

/** `host:port` of a NATS server address as nats.js takes it (an IPv6 host in brackets). */
export function hostPort(address: { host: string; port: number }): string {
  const h = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${h}:${address.port}`;
}

/**
 * Whether an error is a refused subscription to the NATS service API's subjects (`$SRV.>`): a user without that
 * permission still serves, undiscoverable.
 */
function discoveryDenied(e: unknown): boolean {
  const subject = (e as { subject?: unknown })?.subject;
  return typeof subject === 'string' && subject.startsWith('$SRV.');
}

/** The nats.js connection options of a link to `servers` (exported for the benchmark's raw nats.js floor). */
export async function connectOptions(
  mod: NatsModule,
  servers: string,
  o: NatsOptions,
): Promise<Record<string, unknown>> {
  const opts: Record<string, unknown> = {
    servers,
    name: o.name ?? 'edgeml',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
    ignoreClusterUpdates: false,
  };
  if (o.user !== undefined) opts.user = o.user;
  if (o.pass !== undefined) opts.pass = o.pass;
  if (o.token !== undefined) opts.token = o.token;
  const creds = o.credsFile !== undefined ? await readFile(o.credsFile) : o.creds;
  if (creds !== undefined) {
    opts.authenticator = mod.credsAuthenticator(typeof creds === 'string' ? Buffer.from(creds) : creds);
  }
  if (o.nkeySeed !== undefined) {
    const seed = typeof o.nkeySeed === 'string' ? Buffer.from(o.nkeySeed) : o.nkeySeed;
    opts.authenticator = mod.nkeyAuthenticator(seed);
  }
  if (o.tls !== undefined) opts.tls = { ...o.tls };
  return { ...opts, ...o.connection };
}

/** See the module comment. */
export class NatsLink {
  state: LinkState = 'connecting';
  /** Why the NATS server refused the connection, while {@link state} is `'unauthorized'`. */
  authFailure: AuthenticationError | undefined;
  private nc: NatsConnection | undefined;
  private readonly listeners = new Set<(state: LinkState) => void>();
  private readonly readyWaiters: (() => void)[] = [];
  private refs = 0;
  private readonly idPrefix = randomBytes(4);
  private nextId = 0;

  private constructor(
    private readonly servers: string,
    private readonly options: NatsOptions,
    private readonly onGone: () => void,
  ) {}

  /** A link that connects in the background and keeps trying (clients). */
  static client(servers: string, options: NatsOptions, onGone: () => void): NatsLink {
    const link = new NatsLink(servers, options, onGone);
    void link.keepConnecting();
    return link;
  }

  /** A link connected now, or an error (servers). */
  static async server(servers: string, options: NatsOptions, onGone: () => void): Promise<NatsLink> {
    const link = new NatsLink(servers, options, onGone);
    try {
      await link.open();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      if (isAuthError(e)) throw new AuthenticationError(`the NATS server at ${servers} refused this server: ${why}`);
      throw new EdgeMLError(`cannot connect to the NATS server at ${servers}: ${why}`, 'EDGEML_ERROR', { cause: e });
    }
    return link;
  }

  private async open(): Promise<void> {
    const mod = await natsModule();
    const nc = await mod.connect(await connectOptions(mod, this.servers, this.options));
    if (this.state === 'closed') {
      await nc.close().catch(() => undefined);
      return;
    }
    this.nc = nc;
    this.set('up');
    for (const w of this.readyWaiters.splice(0)) w();
    void this.watch(nc);
  }

  private async keepConnecting(): Promise<void> {
    for (let wait = RETRY_MIN_MS; this.state !== 'closed' && !this.nc; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
      try {
        await this.open();
        return;
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
          this.set('closed');
          return;
        }
        if (isAuthError(e)) {
          this.authFailure = new AuthenticationError(
            `the NATS server at ${this.servers} refused this client: ${(e as Error).message}`,
          );
          this.set('unauthorized');
        }
        await new Promise((r) => setTimeout(r, wait).unref());
      }
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.set('down');
        else if (s.type === 'reconnect') this.set('up');
        else if (s.type === 'error' && isAuthError(s.error) && !discoveryDenied(s.error)) {
          this.authFailure = new AuthenticationError(`the NATS server at ${this.servers}: ${s.error.message}`);
          this.set('unauthorized');
        }
      }
    } catch {
      // The iterator ends with the connection.
    }
    if (this.state !== 'closed') {
      // Closed by nats.js itself (a fatal error): start over.
      this.nc = undefined;
      this.set('down');
      void this.keepConnecting();
    }
  }

  private set(state: LinkState): void {
    if (this.state === state || this.state === 'closed') return;
    if (state === 'up') this.authFailure = undefined;
    this.state = state;
    for (const l of [...this.listeners]) l(state);
  }

  /** Calls `listener` on every state change; returns the function that stops it. */
  watchState(listener: (state: LinkState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `f` with the connection once it is there (at once when it is). */
  whenReady(f: () => void): void {
    if (this.nc) f();
    else this.readyWaiters.push(f);
  }

  /** The NATS connection while it is up (for JetStream). */
  get connection(): NatsConnection | undefined {
    return this.nc;
  }

  /** Largest NATS message body this link sends. */
  get maxBody(): number {
    const max = this.nc?.info?.max_payload ?? 1024 * 1024;
    return Math.min(max, this.options.chunkBytes ?? max);
  }

  /** A fresh message id: 4 random bytes of this link and a counter. */
  messageId(): Uint8Array {
    const id = new Uint8Array(MESSAGE_ID_BYTES);
    id.set(this.idPrefix, 0);
    new DataView(id.buffer).setUint32(4, this.nextId, false);
    this.nextId = (this.nextId + 1) >>> 0;
    return id;
  }

  /** Subscribes with a synchronous callback that never throws into nats.js. */
  subscribe(subject: string, onMsg: (msg: Msg) => void, queue?: string): Subscription | undefined {
    if (!this.nc) return undefined;
    return this.nc.subscribe(subject, {
      ...(queue !== undefined ? { queue } : {}),
      callback: (err, msg) => {
        if (err) return;
        try {
          onMsg(msg);
        } catch {
          // Handlers guard themselves; nothing reaches nats.js.
        }
      },
    });
  }

  /** Publishes one body (at most {@link maxBody} bytes); false when it could not be handed to the connection. */
  publish(subject: string, body: Uint8Array, reply?: string): boolean {
    if (!this.nc || this.nc.isClosed()) return false;
    try {
      this.nc.publish(subject, body, reply === undefined ? undefined : { reply });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sends chunks `from..` of `body` (message `id`) to `subject`, each with `reply` when given, flushing every few
   * chunks; chunks are made one at a time, so a large body is not copied whole once more.
   */
  async publishChunks(subject: string, body: Uint8Array, id: Uint8Array, from = 0, reply?: string): Promise<void> {
    const max = this.maxBody;
    const count = chunkCount(body.length, max);
    for (let i = from; i < count; i++) {
      if (!this.publish(subject, encodeChunk(body, id, i, max), reply)) return;
      if ((i + 1 - from) % FLUSH_EVERY_CHUNKS === 0 && i + 1 < count && !(await this.flush())) return;
    }
  }

  /** Resolves once the NATS server has processed everything sent so far (false if the connection is gone). */
  async flush(): Promise<boolean> {
    if (!this.nc || this.nc.isClosed()) return false;
    try {
      await this.nc.flush();
      return true;
    } catch {
      return false;
    }
  }

  /** One more socket uses the link. */
  ref(): void {
    this.refs++;
  }

  /** One socket less; the last one closes the connection (after sending what is queued). */
  async unref(): Promise<void> {
    if (--this.refs > 0) return;
    this.set('closed');
    this.onGone();
    const nc = this.nc;
    this.nc = undefined;
    this.readyWaiters.length = 0;
    if (nc) await nc.drain().catch(() => nc.close().catch(() => undefined));
  }
}
