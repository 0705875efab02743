/**
 * The server side of request/reply on top of one or more {@link Transport} sockets: decodes requests, runs handlers
 * concurrently with per-client limits and a deadline each, answers out of order, and keeps per-method statistics. The
 * client side is in `rpc-client.ts`.
 *
 * @module
 */

import {
  DEFAULT_HANDLER_TIMEOUT_MS,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_MAX_IN_FLIGHT_PER_CLIENT,
  SLOW_PEER_PAUSE_MS,
} from '../core/defaults.js';
import {
  EdgeMLError,
  InvalidArgumentError,
  LimitError,
  NotFoundError,
  RemoteError,
  TimeoutError,
} from '../core/errors.js';
import { type MethodStats, MethodStatsRecorder } from '../core/latency.js';
import { peerText } from '../core/peer-text.js';
import type { Endpoint, Frame, PeerId } from '../core/types.js';
import type { ReplySocket, ServiceDescription, Transport } from '../transport/types.js';
import type { DecodeLimits, EncodeOptions } from '../wire/codec.js';
import { decodeEnvelope, encodeError, encodeReply, peekRequestId } from '../wire/envelopes.js';

/** Method every {@link RpcServer} answers with `'pong'`. */
export const M_PING = 'ping';

/** What a server handler gets besides the payload. */
export interface RequestContext {
  /** The method called. */
  method: string;
  /** The name the request targets (interface, table, key), if any. */
  name: string | undefined;
  /** Identity of the calling peer, stable for one connection. */
  peer: string;
  /**
   * Aborts when the call is abandoned: at its deadline (the server's `handlerTimeoutMs`, or the caller's own deadline
   * when it is shorter) or when the server stops. A handler doing long work should pass it on or check it.
   */
  signal: AbortSignal;
}

/**
 * The context a mode hands its callbacks: the peer, the name when given, and the signal, read from `ctx` only when
 * the callback reads it (an AbortController per call costs about as much as the rest of a small call).
 */
export function handlerContext(ctx: RequestContext): { peer: string; readonly signal: AbortSignal };
export function handlerContext(
  ctx: RequestContext,
  name: string,
): { name: string; peer: string; readonly signal: AbortSignal };
export function handlerContext(
  ctx: RequestContext,
  name?: string,
): { name?: string; peer: string; readonly signal: AbortSignal } {
  const out = {
    peer: ctx.peer,
    get signal(): AbortSignal {
      return ctx.signal;
    },
  };
  return name === undefined ? out : Object.assign(out, { name });
}

/** Serves one request; a throw or rejection goes back to the caller as an error. */
export type RequestHandler = (payload: unknown, ctx: RequestContext) => unknown;

/** How a method is served. */
export interface HandleOptions {
  /**
   * Requests carrying an idempotency key (`u`) are answered once per key: a retry while the first is running waits
   * for its result, a retry after it gets the same result (kept for the last {@link IDEMPOTENT_KEYS_MAX} keys, at
   * most {@link IDEMPOTENT_TTL_MS}), without running the handler again. Errors are not kept: a failed call may be
   * retried. A function decides per request, from its name (the inference server's interfaces registered
   * idempotent).
   */
  idempotent?: boolean | ((name: string | undefined) => boolean);
}

/** Idempotency keys remembered at most, per server. */
export const IDEMPOTENT_KEYS_MAX = 4096;
/** How long the result of an idempotent call is kept for its retries. */
export const IDEMPOTENT_TTL_MS = 10 * 60_000;

interface KeptResult {
  at: number;
  /** The running call's waiters, or the value once it succeeded. */
  waiting: Call[] | undefined;
  value: unknown;
}

/** Options of an {@link RpcServer}. */
export interface RpcServerOptions {
  /** Limits applied to incoming messages. */
  limits?: DecodeLimits;
  /** Encoding options of replies. */
  encode?: EncodeOptions;
  /** Requests one client may have running at once; more are answered with a `LimitError`.
   * @default {@link DEFAULT_MAX_IN_FLIGHT_PER_CLIENT} */
  maxInFlightPerClient?: number;
  /**
   * Longest a handler may run, in ms: past it the call is abandoned (its `signal` aborts, the caller gets a
   * `TimeoutError`, its slot is freed and it is counted in `abandoned`). @default {@link DEFAULT_HANDLER_TIMEOUT_MS}
   */
  handlerTimeoutMs?: number;
  /** Heartbeat interval in ms (transport heartbeats). */
  heartbeatMs?: number;
  /** Clients served at once (connections active within the last minute); requests from more are answered with a
   * `LimitError`. @default {@link DEFAULT_MAX_CLIENTS} */
  maxClients?: number;
}

/** One endpoint a server listens on, and the transport that serves it. */
export interface Binding {
  transport: Transport;
  endpoint: Endpoint;
}

/** Counters of a server: the same structure in every mode. */
export interface ServerStats {
  /** Distinct peers seen that are still within the last minute of activity. */
  clients: number;
  /** Requests answered successfully. */
  requests: number;
  /** Requests answered with an error (handler errors, unknown names, limits, deadlines). */
  errors: number;
  /** Messages dropped because they could not be decoded at all. */
  malformed: number;
  /** Calls abandoned at their deadline while their handler was still running. */
  abandoned: number;
  /** Replies dropped because their client did not read (its queue was full). */
  repliesDropped: number;
  /** Requests not served because their client did not read its replies (paused for a second each time). */
  ignored: number;
  /** Requests refused because {@link RpcServerOptions.maxClients} other clients were being served. */
  refusedClients: number;
  /** Bytes received and sent, all frames together. */
  bytesIn: number;
  bytesOut: number;
  /** Requests running right now. */
  inFlight: number;
  /**
   * Per method, and per method and registered name (`call:classify`, `act:move`, `train:agent1`): calls, errors,
   * latency percentiles in ms, bytes in and out.
   */
  methods: Record<string, MethodStats>;
}

/** Requests held while a server's endpoints are still being bound; more are dropped (their callers time out). */
const EARLY_REQUESTS_MAX = 1024;
/** A peer counts as a client in {@link ServerStats.clients} for this long after its last message. */
const CLIENT_ACTIVE_MS = 60_000;
/** How long after the caller's deadline (`d`) a server abandons the handler: the caller gives up first. */
const CALLER_GRACE_MS = 5;
/** Fewest messages between two sweeps of silent peers (and never fewer than the peers remembered). */
const SWEEP_EVERY = 1024;

function frameBytes(frames: readonly Frame[]): number {
  let n = 0;
  for (const f of frames) n += f.byteLength;
  return n;
}

/** One request being served. */
interface Call {
  socket: ReplySocket;
  peer: PeerId;
  peerKey: string;
  id: number;
  key: string;
  /** The name the request gave (an interface, a table), if any. */
  name: string | undefined;
  started: number;
  bytesIn: number;
  controller: AbortController | undefined;
  /** When the call is abandoned (performance.now() ms), and the error its caller then gets. */
  deadline: number;
  limitMs: number;
  what: string;
  done: boolean;
  /** The idempotency key whose retries wait for this call. */
  dedupeKey?: string | undefined;
}

/** The server side: decodes requests, runs handlers concurrently, sends replies. */
export class RpcServer {
  private sockets: ReplySocket[] = [];
  private readonly handlers = new Map<string, RequestHandler>();
  private readonly idempotent = new Map<string, (name: string | undefined) => boolean>();
  private readonly kept = new Map<string, KeptResult>();
  private readonly inFlight = new Map<string, number>();
  private readonly lastSeen = new Map<string, number>();
  private readonly running = new Set<Call>();
  /** Calls with a deadline (still running after their handler returned), and the timer that checks them. */
  private readonly deadlines = new Set<Call>();
  private sweeper: ReturnType<typeof setTimeout> | undefined;
  private sweeperAt = 0;
  private messagesSinceSweep = 0;
  private readonly methods = new MethodStatsRecorder();
  private counters = {
    requests: 0,
    errors: 0,
    malformed: 0,
    abandoned: 0,
    repliesDropped: 0,
    ignored: 0,
    refusedClients: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  private readonly handlerTimeoutMs: number;
  private readonly maxInFlight: number;
  private readonly maxClients: number;
  /** Clients that did not read their replies, and until when their requests are ignored. */
  private readonly paused = new Map<string, number>();
  private kind = 'edgeml';
  private endpointsOf: (() => readonly (readonly [string, string])[]) | undefined;
  private startedAt = 0;
  /** The peer id last seen, its socket's index and its key (see {@link peerKey}). */
  private lastPeer: PeerId | undefined;
  private lastPeerIndex = -1;
  private lastPeerKey = '';

  /** Every server answers method `ping` with `'pong'` (used by `edgeml ping` and clients' `ping()`). */
  constructor(private readonly options: RpcServerOptions = {}) {
    this.handlers.set(M_PING, () => 'pong');
    this.handlerTimeoutMs = options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS;
    if (!(this.handlerTimeoutMs > 0)) throw new InvalidArgumentError('handlerTimeoutMs', 'must be a positive number');
    this.maxInFlight = options.maxInFlightPerClient ?? DEFAULT_MAX_IN_FLIGHT_PER_CLIENT;
    if (!Number.isSafeInteger(this.maxInFlight) || this.maxInFlight < 1) {
      throw new InvalidArgumentError('maxInFlightPerClient', 'must be a positive integer');
    }
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    if (!Number.isSafeInteger(this.maxClients) || this.maxClients < 1) {
      throw new InvalidArgumentError('maxClients', 'must be a positive integer');
    }
  }

  /**
   * What this server reports in discovery (transports with a discovery protocol, such as NATS): its kind, and its
   * endpoints as `[name, stats key]` pairs (an inference server: `['classify', 'call:classify']`). Without it, the
   * endpoints are the registered methods.
   */
  describeAs(kind: string, endpoints?: () => readonly (readonly [name: string, statsKey: string])[]): void {
    this.kind = kind;
    this.endpointsOf = endpoints;
  }

  /** The description transports with a discovery protocol answer with. */
  private description(): ServiceDescription {
    const stats = this.methods.snapshot();
    const pairs =
      this.endpointsOf?.() ?? [...this.handlers.keys()].filter((m) => m !== M_PING).map((m) => [m, m] as const);
    return {
      kind: this.kind,
      startedAt: this.startedAt,
      endpoints: pairs.map(([name, key]) => ({ name, stats: stats[key] })),
    };
  }

  /** Registers the handler of `method`. */
  handle(method: string, handler: RequestHandler, options: HandleOptions = {}): void {
    this.handlers.set(method, handler);
    const idempotent = options.idempotent;
    if (typeof idempotent === 'function') this.idempotent.set(method, idempotent);
    else if (idempotent) this.idempotent.set(method, () => true);
    else this.idempotent.delete(method);
  }

  /** The kept result of an idempotent call's key, expired ones forgotten. */
  private keptFor(key: string): KeptResult | undefined {
    const k = this.kept.get(key);
    if (k && k.waiting === undefined && Date.now() - k.at > IDEMPOTENT_TTL_MS) {
      this.kept.delete(key);
      return undefined;
    }
    return k;
  }

  /**
   * Binds every endpoint and starts serving; resolves with the bound ports, in order. A failure closes what was
   * bound.
   */
  async start(bindings: readonly Binding[]): Promise<number[]> {
    if (this.sockets.length > 0) throw new EdgeMLError('server already started');
    this.startedAt = Date.now();
    const opts = {
      ...(this.options.limits?.maxMessageBytes !== undefined
        ? { maxMessageBytes: this.options.limits.maxMessageBytes }
        : {}),
      ...(this.options.heartbeatMs !== undefined ? { heartbeatMs: this.options.heartbeatMs } : {}),
    };
    const bound: ReplySocket[] = [];
    // A transport may deliver requests before its bind resolves (NATS, WebSocket: a request to a worker joining a
    // service under load); they wait here, a bounded number, until every endpoint is bound.
    const early: { index: number; peer: PeerId; frames: Frame[] }[] = [];
    let ready = false;
    try {
      for (const [i, b] of bindings.entries()) {
        const socket: ReplySocket = await b.transport.bindReply(
          b.endpoint,
          (peer, frames) => {
            if (ready) this.onMessage(bound[i] as ReplySocket, i, peer, frames);
            else if (early.length < EARLY_REQUESTS_MAX) early.push({ index: i, peer, frames });
          },
          { ...opts, onPeerBlocked: (peer) => this.onPeerBlocked(i, peer), describe: () => this.description() },
        );
        bound.push(socket);
      }
    } catch (e) {
      await Promise.all(bound.map((s) => s.close()));
      throw e;
    }
    this.sockets = bound;
    ready = true;
    for (const m of early.splice(0)) this.onMessage(bound[m.index] as ReplySocket, m.index, m.peer, m.frames);
    return bound.map((s) => s.port);
  }

  /** The bound port of the first endpoint, once started. */
  get port(): number | undefined {
    return this.sockets[0]?.port;
  }

  /** The bound ports, in the order of the endpoints given to {@link start}. */
  get ports(): number[] {
    return this.sockets.map((s) => s.port);
  }

  /** Stops serving: running handlers are abandoned (their signals abort) and their replies dropped. */
  async stop(): Promise<void> {
    const sockets = this.sockets;
    this.sockets = [];
    for (const call of [...this.running]) this.finish(call, undefined, true);
    await Promise.all(sockets.map((s) => s.close()));
  }

  private peerKey(index: number, peer: PeerId): string {
    // The last key is kept: transports that hand out one peer id object per connection (NATS, WebSocket, inproc)
    // then pay for the hex of a busy client's id once. Peer ids are never modified.
    if (peer === this.lastPeer && index === this.lastPeerIndex) return this.lastPeerKey;
    const key = `${index}:${Buffer.from(peer).toString('hex')}`;
    this.lastPeer = peer;
    this.lastPeerIndex = index;
    this.lastPeerKey = key;
    return key;
  }

  /** A client's reply queue is full: that reply is gone, and its requests are ignored for a while. */
  private onPeerBlocked(index: number, peer: PeerId): void {
    this.counters.repliesDropped++;
    this.paused.set(this.peerKey(index, peer), Date.now() + SLOW_PEER_PAUSE_MS);
  }

  /** Forgets peers silent for longer than {@link CLIENT_ACTIVE_MS}; returns how many are left. */
  private sweepPeers(): number {
    const now = Date.now();
    for (const [k, t] of this.lastSeen) if (now - t >= CLIENT_ACTIVE_MS) this.lastSeen.delete(k);
    for (const [k, until] of this.paused) if (until <= now) this.paused.delete(k);
    this.messagesSinceSweep = 0;
    return this.lastSeen.size;
  }

  /** Current counters. */
  stats(): ServerStats {
    return {
      clients: this.sweepPeers(),
      requests: this.counters.requests,
      errors: this.counters.errors,
      malformed: this.counters.malformed,
      abandoned: this.counters.abandoned,
      repliesDropped: this.counters.repliesDropped,
      ignored: this.counters.ignored,
      refusedClients: this.counters.refusedClients,
      bytesIn: this.counters.bytesIn,
      bytesOut: this.counters.bytesOut,
      inFlight: this.running.size,
      methods: this.methods.snapshot(),
    };
  }

  private send(socket: ReplySocket, peer: PeerId, frames: Frame[]): number {
    // A reply to a request received by a socket since closed is dropped, also after a restart: the peer it was for
    // is gone with that socket.
    if (!this.sockets.includes(socket)) return 0;
    const n = frameBytes(frames);
    this.counters.bytesOut += n;
    socket.send(peer, frames);
    return n;
  }

  /** Answers a request that never reached a handler. */
  private refuse(socket: ReplySocket, peer: PeerId, id: number, method: string, error: unknown, bytesIn: number): void {
    this.counters.errors++;
    const out = this.send(socket, peer, encodeError(id, error));
    this.methods.record(method, 0, false, bytesIn, out);
  }

  private onMessage(socket: ReplySocket, index: number, peer: PeerId, frames: Frame[]): void {
    if (!this.sockets.includes(socket)) return;
    const bytesIn = frameBytes(frames);
    this.counters.bytesIn += bytesIn;
    const peerKey = this.peerKey(index, peer);
    const pausedUntil = this.paused.get(peerKey);
    if (pausedUntil !== undefined) {
      if (pausedUntil > Date.now()) {
        this.counters.ignored++;
        return;
      }
      this.paused.delete(peerKey);
    }
    // Bounded: peers silent for a minute are forgotten, also when nobody asks for stats (amortised O(1) per message).
    if (++this.messagesSinceSweep >= Math.max(SWEEP_EVERY, this.lastSeen.size)) this.sweepPeers();
    if (!this.lastSeen.has(peerKey) && this.lastSeen.size >= this.maxClients && this.sweepPeers() >= this.maxClients) {
      this.counters.refusedClients++;
      const id = peekRequestId(frames);
      if (id !== undefined) {
        this.send(
          socket,
          peer,
          encodeError(id, new LimitError(`this server serves at most ${this.maxClients} clients`)),
        );
      }
      return;
    }
    this.lastSeen.set(peerKey, Date.now());
    let env: ReturnType<typeof decodeEnvelope>;
    try {
      env = decodeEnvelope(frames, this.options.limits);
    } catch (e) {
      const id = peekRequestId(frames);
      if (id === undefined) this.counters.malformed++;
      else this.refuse(socket, peer, id, '(undecodable)', e, bytesIn);
      return;
    }
    if (env.kind !== 'req') {
      this.counters.malformed++;
      return;
    }
    const handler = this.handlers.get(env.method);
    if (!handler) {
      const error = new InvalidArgumentError('method', `unknown method ${peerText(env.method)}`);
      this.refuse(socket, peer, env.id, '(unknown method)', error, bytesIn);
      return;
    }
    const running = this.inFlight.get(peerKey) ?? 0;
    if (running >= this.maxInFlight) {
      const error = new LimitError(`more than ${this.maxInFlight} requests in flight from this client`);
      this.refuse(socket, peer, env.id, env.method, error, bytesIn);
      return;
    }
    this.inFlight.set(peerKey, running + 1);
    const call: Call = {
      socket,
      peer,
      peerKey,
      id: env.id,
      key: env.method,
      name: env.name,
      started: performance.now(),
      bytesIn,
      controller: undefined,
      deadline: 0,
      limitMs: 0,
      what: '',
      done: false,
    };
    this.running.add(call);
    const dedupeKey =
      env.key !== undefined && this.idempotent.get(env.method)?.(env.name) === true
        ? `${env.method}\u0000${env.key}`
        : undefined;
    if (dedupeKey !== undefined) {
      const kept = this.keptFor(dedupeKey);
      if (kept?.waiting) {
        // A retry of a call still running: answered with its result.
        kept.waiting.push(call);
        this.arm(call, this.limitFor(env.deadlineMs), 'retried call');
        return;
      }
      if (kept) {
        this.finish(call, undefined, false, kept.value, env.name);
        return;
      }
      this.kept.set(dedupeKey, { at: Date.now(), waiting: [], value: undefined });
      while (this.kept.size > IDEMPOTENT_KEYS_MAX) this.kept.delete(this.kept.keys().next().value as string);
      call.dedupeKey = dedupeKey;
    }
    const limitMs = this.limitFor(env.deadlineMs);
    // The signal (an AbortController) is made only for a handler that looks at it.
    const ctx: RequestContext = {
      method: env.method,
      name: env.name,
      peer: peerKey,
      get signal(): AbortSignal {
        call.controller ??= new AbortController();
        return call.controller.signal;
      },
    };
    let result: unknown;
    try {
      result = handler(env.payload, ctx);
    } catch (e) {
      this.finish(call, e ?? new RemoteError('Error', `the handler threw ${String(e)}`));
      return;
    }
    if (result instanceof Promise) {
      // Still running: it gets a deadline (a synchronous handler has already finished).
      this.arm(
        call,
        limitMs,
        env.name === undefined ? env.method : `${env.method} ${JSON.stringify(env.name.slice(0, 64))}`,
      );
      result.then(
        (value: unknown) => {
          if (!call.done) this.finish(call, undefined, false, value, env.name);
        },
        (e: unknown) => this.finish(call, e ?? new RemoteError('Error', `the handler rejected with ${String(e)}`)),
      );
    } else this.finish(call, undefined, false, result, env.name);
  }

  /**
   * How long a handler may run: `handlerTimeoutMs`, or the caller's time left (`d`) when shorter, plus
   * {@link CALLER_GRACE_MS} so that the caller's own timer always fires first (in one process the two timers would
   * otherwise race, and the server's `TimeoutError` could beat the caller's).
   */
  private limitFor(callerMs: number | undefined): number {
    return callerMs === undefined ? this.handlerTimeoutMs : Math.min(this.handlerTimeoutMs, callerMs + CALLER_GRACE_MS);
  }

  /** Gives a running call its deadline; one timer, set for the earliest deadline, serves them all. */
  private arm(call: Call, limitMs: number, what: string): void {
    call.limitMs = limitMs;
    call.deadline = performance.now() + limitMs;
    call.what = what;
    this.deadlines.add(call);
    if (this.sweeper === undefined || call.deadline < this.sweeperAt) this.rearm(call.deadline);
  }

  private rearm(at: number): void {
    if (this.sweeper !== undefined) clearTimeout(this.sweeper);
    this.sweeperAt = at;
    this.sweeper = setTimeout(() => this.expire(), Math.max(0, at - performance.now()));
    this.sweeper.unref?.();
  }

  /**
   * Abandons the call whose deadline passed first, then sets the timer for the next one. One call per timer run, so
   * what the abandonment lets go on (the next train step, say) runs before the next deadline is looked at.
   */
  private expire(): void {
    this.sweeper = undefined;
    let first: Call | undefined;
    for (const call of this.deadlines) {
      if (call.done) this.deadlines.delete(call);
      else if (first === undefined || call.deadline < first.deadline) first = call;
    }
    if (first === undefined) return;
    if (first.deadline <= performance.now()) {
      this.finish(
        first,
        new TimeoutError(
          `${first.what} did not finish within ${Math.round(first.limitMs)} ms on the server`,
          first.limitMs,
        ),
        true,
      );
      if (this.deadlines.size > 0) this.rearm(performance.now());
    } else this.rearm(first.deadline);
  }

  /** Answers the retries waiting on an idempotent call; keeps its value on success, forgets the key on failure. */
  private settleKept(key: string, ok: boolean, value: unknown, error: unknown, name: string | undefined): void {
    const kept = this.kept.get(key);
    if (!kept) return;
    const waiting = kept.waiting ?? [];
    if (ok) {
      kept.waiting = undefined;
      kept.value = value;
      kept.at = Date.now();
    } else this.kept.delete(key);
    for (const w of waiting)
      this.finish(w, ok ? undefined : (error ?? new EdgeMLError('the first call was abandoned')), false, value, name);
  }

  /**
   * Ends a call once: with its value (`error` undefined), its error, or abandoned (`abandon`: the signal aborts; an
   * error, if given, goes to the caller). Frees its slot at once.
   */
  private finish(call: Call, error: unknown, abandon = false, value?: unknown, name?: string): void {
    if (call.done) return;
    call.done = true;
    this.running.delete(call);
    this.deadlines.delete(call);
    const left = (this.inFlight.get(call.peerKey) ?? 1) - 1;
    if (left <= 0) this.inFlight.delete(call.peerKey);
    else this.inFlight.set(call.peerKey, left);
    if (abandon) {
      this.counters.abandoned++;
      call.controller?.abort(error ?? new EdgeMLError('server stopped'));
    }
    const ms = performance.now() - call.started;
    if (call.dedupeKey !== undefined)
      this.settleKept(call.dedupeKey, error === undefined && !abandon, value, error, name);
    if (error === undefined && !abandon) {
      let frames: Frame[] | undefined;
      try {
        frames = encodeReply(call.id, value, this.options.encode);
      } catch (e) {
        // The handler returned something that cannot travel: tell the caller what.
        error = e;
      }
      if (frames) {
        this.counters.requests++;
        const out = this.send(call.socket, call.peer, frames);
        this.methods.record(name === undefined ? call.key : `${call.key}:${name}`, ms, true, call.bytesIn, out);
        return;
      }
    }
    if (error === undefined) return; // abandoned because the server stopped: no reply
    this.counters.errors++;
    const out = this.send(call.socket, call.peer, encodeError(call.id, error));
    // Per name when the name was known (an unknown one, `NotFoundError`, may be anything a peer sent).
    const perName = call.name !== undefined && !(error instanceof NotFoundError);
    this.methods.record(perName ? `${call.key}:${call.name}` : call.key, ms, false, call.bytesIn, out);
  }
}
