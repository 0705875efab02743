/**
 * Request/reply on top of a {@link Transport}: request ids, per-call deadlines and `AbortSignal`, replies matched out
 * of order, per-client concurrency limits on the server, and per-server statistics.
 *
 * @module
 */
import type { DecodeLimits, EncodeOptions, Frame } from './codec.js';
import {
  AbortError,
  AuthenticationError,
  ClosedError,
  EdgeMLError,
  InvalidArgumentError,
  LimitError,
  TimeoutError,
} from './errors.js';
import { DEFAULT_MAX_IN_FLIGHT_PER_CLIENT, DEFAULT_MAX_PENDING_CALLS, DEFAULT_TIMEOUT_MS } from './options.js';
import { decodeEnvelope, encodeError, encodeReply, encodeRequest, errorFromWire, peekRequestId } from './protocol.js';
import { LatencyRecorder } from './stats.js';
import { StatusEvents } from './status-events.js';
import type { Address, ConnectionStatus, PeerId, ReplySocket, RequestSocket, Transport } from './transport.js';

/** Method every {@link RpcServer} answers with `'pong'`. */
export const M_PING = 'ping';

/** Options of a single call. */
export interface CallOptions {
  /** Deadline in milliseconds from now. @default {@link DEFAULT_TIMEOUT_MS} (or the client's `timeoutMs`) */
  timeoutMs?: number;
  /** Cancels the call: it rejects with an {@link AbortError} and its reply, if one comes, is dropped. */
  signal?: AbortSignal;
}

/** What a server handler gets besides the payload. */
export interface RequestContext {
  /** The method called. */
  method: string;
  /** The name the request targets (interface, table, key), if any. */
  name: string | undefined;
  /** Identity of the calling peer, stable for one connection. */
  peer: string;
}

/** Serves one request; a throw or rejection goes back to the caller as an error. */
export type RequestHandler = (payload: unknown, ctx: RequestContext) => unknown;

/** Options of an {@link RpcServer}. */
export interface RpcServerOptions {
  /** Limits applied to incoming messages. */
  limits?: DecodeLimits;
  /** Encoding options of replies. */
  encode?: EncodeOptions;
  /** Requests one client may have running at once; more are answered with a `LimitError`.
   * @default {@link DEFAULT_MAX_IN_FLIGHT_PER_CLIENT} */
  maxInFlightPerClient?: number;
  /** ZMTP heartbeat interval in ms. */
  heartbeatMs?: number;
}

/** Counters of a server. */
export interface RpcServerStats {
  /** Distinct peers seen that are still within the last minute of activity. */
  clients: number;
  /** Requests answered successfully. */
  requests: number;
  /** Requests answered with an error (handler errors, unknown names, limits). */
  errors: number;
  /** Messages dropped because they could not be decoded at all. */
  malformed: number;
  /** Bytes received and sent, all frames together. */
  bytesIn: number;
  bytesOut: number;
  /** Requests running right now. */
  inFlight: number;
  /** Latency percentiles per method/name, in milliseconds. */
  latency: Record<string, { count: number; p50: number; p90: number; p99: number }>;
}

/** A peer counts as a client in {@link RpcServerStats.clients} for this long after its last message. */
const CLIENT_ACTIVE_MS = 60_000;
/** Fewest messages between two sweeps of silent peers (and never fewer than the peers remembered). */
const SWEEP_EVERY = 1024;

function frameBytes(frames: readonly Frame[]): number {
  let n = 0;
  for (const f of frames) n += f.byteLength;
  return n;
}

/** The server side: decodes requests, runs handlers concurrently, sends replies. */
export class RpcServer {
  private socket: ReplySocket | undefined;
  private readonly handlers = new Map<string, RequestHandler>();
  private readonly inFlight = new Map<string, number>();
  private readonly lastSeen = new Map<string, number>();
  private messagesSinceSweep = 0;
  private readonly latency = new LatencyRecorder();
  private counters = { requests: 0, errors: 0, malformed: 0, bytesIn: 0, bytesOut: 0, running: 0 };

  /** Every server answers method `ping` with `'pong'` (used by `edgeml ping` and clients' `ping()`). */
  constructor(
    private readonly transport: Transport,
    private readonly options: RpcServerOptions = {},
  ) {
    this.handlers.set(M_PING, () => 'pong');
  }

  /** Registers the handler of `method`. */
  handle(method: string, handler: RequestHandler): void {
    this.handlers.set(method, handler);
  }

  /** Binds and starts serving; resolves with the bound port. */
  async start(address: Address): Promise<number> {
    if (this.socket) throw new EdgeMLError('server already started');
    const opts = {
      ...(this.options.limits?.maxMessageBytes !== undefined
        ? { maxMessageBytes: this.options.limits.maxMessageBytes }
        : {}),
      ...(this.options.heartbeatMs !== undefined ? { heartbeatMs: this.options.heartbeatMs } : {}),
    };
    this.socket = await this.transport.bindReply(address, (peer, frames) => this.onMessage(peer, frames), opts);
    return this.socket.port;
  }

  /** The bound port, once started. */
  get port(): number | undefined {
    return this.socket?.port;
  }

  /** Stops serving. Requests still running finish, but their replies are dropped. */
  async stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    await s?.close();
  }

  /** Forgets peers silent for longer than {@link CLIENT_ACTIVE_MS}; returns how many are left. */
  private sweepPeers(): number {
    const now = Date.now();
    for (const [k, t] of this.lastSeen) if (now - t >= CLIENT_ACTIVE_MS) this.lastSeen.delete(k);
    this.messagesSinceSweep = 0;
    return this.lastSeen.size;
  }

  /** Current counters. */
  stats(): RpcServerStats {
    return {
      clients: this.sweepPeers(),
      requests: this.counters.requests,
      errors: this.counters.errors,
      malformed: this.counters.malformed,
      bytesIn: this.counters.bytesIn,
      bytesOut: this.counters.bytesOut,
      inFlight: this.counters.running,
      latency: this.latency.snapshot(),
    };
  }

  private send(socket: ReplySocket, peer: PeerId, frames: Frame[]): void {
    // A reply to a request received by a socket since closed is dropped, also after a restart: the peer it was for
    // is gone with that socket.
    if (socket !== this.socket) return;
    this.counters.bytesOut += frameBytes(frames);
    socket.send(peer, frames);
  }

  private fail(socket: ReplySocket, peer: PeerId, id: number, error: unknown): void {
    this.counters.errors++;
    this.send(socket, peer, encodeError(id, error));
  }

  private onMessage(peer: PeerId, frames: Frame[]): void {
    const socket = this.socket;
    if (!socket) return;
    this.counters.bytesIn += frameBytes(frames);
    const peerKey = Buffer.from(peer).toString('hex');
    // Bounded: peers silent for a minute are forgotten, also when nobody asks for stats (amortised O(1) per message).
    if (++this.messagesSinceSweep >= Math.max(SWEEP_EVERY, this.lastSeen.size)) this.sweepPeers();
    this.lastSeen.set(peerKey, Date.now());
    let env: ReturnType<typeof decodeEnvelope>;
    try {
      env = decodeEnvelope(frames, this.options.limits);
    } catch (e) {
      const id = peekRequestId(frames);
      if (id === undefined) this.counters.malformed++;
      else this.fail(socket, peer, id, e);
      return;
    }
    if (env.kind !== 'req') {
      this.counters.malformed++;
      return;
    }
    const handler = this.handlers.get(env.method);
    if (!handler) {
      this.fail(
        socket,
        peer,
        env.id,
        new InvalidArgumentError('method', `unknown method ${JSON.stringify(env.method)}`),
      );
      return;
    }
    const max = this.options.maxInFlightPerClient ?? DEFAULT_MAX_IN_FLIGHT_PER_CLIENT;
    const running = this.inFlight.get(peerKey) ?? 0;
    if (running >= max) {
      this.fail(socket, peer, env.id, new LimitError(`more than ${max} requests in flight from this client`));
      return;
    }
    this.inFlight.set(peerKey, running + 1);
    this.counters.running++;
    const started = performance.now();
    const ctx: RequestContext = { method: env.method, name: env.name, peer: peerKey };
    const done = (): void => {
      const left = (this.inFlight.get(peerKey) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(peerKey);
      else this.inFlight.set(peerKey, left);
      this.counters.running--;
      this.latency.record(
        env.name === undefined ? env.method : `${env.method}:${env.name}`,
        performance.now() - started,
      );
    };
    let result: unknown;
    try {
      result = handler(env.payload, ctx);
    } catch (e) {
      done();
      this.fail(socket, peer, env.id, e);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => {
          done();
          this.reply(socket, peer, env.id, value);
        },
        (e: unknown) => {
          done();
          this.fail(socket, peer, env.id, e);
        },
      );
    } else {
      done();
      this.reply(socket, peer, env.id, result);
    }
  }

  private reply(socket: ReplySocket, peer: PeerId, id: number, value: unknown): void {
    let frames: Frame[];
    try {
      frames = encodeReply(id, value, this.options.encode);
    } catch (e) {
      // The handler returned something that cannot travel: tell the caller what.
      this.fail(socket, peer, id, e);
      return;
    }
    this.counters.requests++;
    this.send(socket, peer, frames);
  }
}

/** Added to the timeout message of a CURVE client that is not connected: libzmq reports some refusals as silence. */
const CURVE_HINT =
  '; CURVE is on: a wrong server public key or a client key the server does not allow may be the cause';

/** Options of an {@link RpcClient}. */
export interface RpcClientOptions {
  /** Default per-call deadline in ms. @default {@link DEFAULT_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Limits applied to replies. */
  limits?: DecodeLimits;
  /** Encoding options of requests. */
  encode?: EncodeOptions;
  /** Calls waiting for a reply at once; more reject with a `LimitError`. @default {@link DEFAULT_MAX_PENDING_CALLS} */
  maxPendingCalls?: number;
  /** ZMTP heartbeat interval in ms. */
  heartbeatMs?: number;
  /** Called on every connection status change. */
  onStatus?: (status: ConnectionStatus) => void;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
  settled: boolean;
  cleanup: () => void;
}

/** The client side: sends requests, matches replies by id, enforces deadlines. */
export class RpcClient {
  private readonly socket: RequestSocket;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private readonly events = new StatusEvents();
  /** Replies that arrived after their call had settled (timed out or aborted), or that matched no call. */
  lateReplies = 0;

  constructor(
    transport: Transport,
    readonly address: Address,
    private readonly options: RpcClientOptions = {},
  ) {
    this.socket = transport.connectRequest(address, (frames) => this.onReply(frames), {
      ...(options.limits?.maxMessageBytes !== undefined ? { maxMessageBytes: options.limits.maxMessageBytes } : {}),
      ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      onStatus: (status) => {
        if (status === 'unauthorized') this.failAll(this.authError());
        if (this.closed && status !== 'closed') return;
        this.events.emit(status);
        options.onStatus?.(status);
      },
    });
  }

  /** The error calls get while the server refuses this client's security. */
  private authError(): AuthenticationError {
    const failure = this.socket?.authFailure;
    const where = `${this.address.host}:${this.address.port}`;
    return failure
      ? new AuthenticationError(failure.message, { cause: failure })
      : new AuthenticationError(`the server at ${where} refused this client's security`);
  }

  private failAll(error: unknown): void {
    for (const id of [...this.pending.keys()]) this.settle(id, error);
  }

  /** Connection status of the underlying socket. */
  get status(): ConnectionStatus {
    return this.closed ? 'closed' : this.socket.status;
  }

  /**
   * Status changes from now on (`connected`, `disconnected`, `reconnecting`, `unauthorized`, finally `closed`), as
   * an async iterator that ends once the client is closed or `signal` aborts.
   */
  statusEvents(signal?: AbortSignal): AsyncGenerator<ConnectionStatus, void, undefined> {
    return this.events.iterate(signal);
  }

  /**
   * Calls `method` on the server. Rejects with {@link TimeoutError} at the deadline (the request is then never sent
   * late, and a late reply is dropped), {@link AbortError} when `signal` aborts, {@link AuthenticationError} as soon
   * as the server refuses this client's security (and at once while it does), the server's error otherwise.
   */
  call(method: string, name: string | undefined, payload: unknown, options: CallOptions = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError('client is closed'));
    if (this.socket.status === 'unauthorized') return Promise.reject(this.authError());
    const max = this.options.maxPendingCalls ?? DEFAULT_MAX_PENDING_CALLS;
    if (this.pending.size >= max) return Promise.reject(new LimitError(`more than ${max} calls waiting for replies`));
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs > 0)) return Promise.reject(new InvalidArgumentError('timeoutMs', 'must be a positive number'));
    const signal = options.signal;
    if (signal?.aborted)
      return Promise.reject(new AbortError('call aborted before it was sent', { cause: signal.reason }));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    let frames: Frame[];
    try {
      frames = encodeRequest(id, method, name, payload, this.options.encode);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<unknown>((resolve, reject) => {
      const what = name === undefined ? method : `${method} ${JSON.stringify(name)}`;
      const onAbort = (): void => this.settle(id, new AbortError(`${what} aborted`, { cause: signal?.reason }));
      const entry: Pending = {
        resolve,
        reject,
        settled: false,
        timer: setTimeout(() => {
          this.settle(
            id,
            new TimeoutError(
              `${what} timed out after ${timeoutMs} ms (server ${this.address.host}:${this.address.port} ` +
                `${this.socket.status}${this.socket.secure && this.socket.status !== 'connected' ? CURVE_HINT : ''})`,
              timeoutMs,
            ),
          );
        }, timeoutMs),
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, entry);
      this.socket.send(frames, () => entry.settled);
    });
  }

  private settle(id: number, error: unknown, value?: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.settled = true;
    clearTimeout(p.timer);
    p.cleanup();
    if (error !== undefined) p.reject(error);
    else p.resolve(value);
  }

  private onReply(frames: Frame[]): void {
    let env: ReturnType<typeof decodeEnvelope>;
    try {
      env = decodeEnvelope(frames, this.options.limits);
    } catch (e) {
      // A reply we cannot decode: fail the call it belongs to if we can tell which, else drop it.
      const id = peekReplyId(frames);
      if (id !== undefined && this.pending.has(id)) this.settle(id, e);
      else this.lateReplies++;
      return;
    }
    if (env.kind !== 'rep' && env.kind !== 'err') return;
    if (!this.pending.has(env.id)) {
      this.lateReplies++;
      return;
    }
    if (env.kind === 'rep') this.settle(env.id, undefined, env.payload);
    else this.settle(env.id, errorFromWire(env.error));
  }

  /** Closes the client; calls still waiting reject with {@link ClosedError}. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.pending.keys()])
      this.settle(id, new ClosedError('client closed while the call was waiting'));
    this.socket.close();
    // The socket reports 'closed' itself; this covers a transport that does not (a second 'closed' is ignored).
    this.events.emit('closed');
  }
}

function peekReplyId(frames: readonly Frame[]): number | undefined {
  // Same rule as for requests, but for reply and error envelopes.
  return peekRequestId(frames, ['rep', 'err']);
}
