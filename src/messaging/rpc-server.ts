/**
 * The server side of request/reply on top of a {@link Transport}: decodes requests, runs handlers concurrently with
 * per-client limits, answers out of order, and keeps per-server statistics. The client side is in `rpc-client.ts`.
 *
 * @module
 */

import { DEFAULT_MAX_IN_FLIGHT_PER_CLIENT } from '../core/defaults.js';
import { EdgeMLError, InvalidArgumentError, LimitError } from '../core/errors.js';
import { LatencyRecorder } from '../core/latency.js';
import { peerText } from '../core/peer-text.js';
import type { Address, PeerId, ReplySocket, Transport } from '../transport/types.js';
import type { DecodeLimits, EncodeOptions, Frame } from '../wire/codec.js';
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
      this.fail(socket, peer, env.id, new InvalidArgumentError('method', `unknown method ${peerText(env.method)}`));
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
