/**
 * The client side of request/reply on top of a {@link Transport}: request ids, per-call deadlines and `AbortSignal`,
 * replies matched out of order, connection status. The server side is in `rpc.ts`.
 *
 * @module
 */

import { DEFAULT_MAX_PENDING_CALLS, DEFAULT_TIMEOUT_MS } from '../core/defaults.js';
import { describeEndpoint } from '../core/endpoint.js';
import {
  AbortError,
  AuthenticationError,
  ClosedError,
  InvalidArgumentError,
  LimitError,
  TimeoutError,
} from '../core/errors.js';
import { StatusEvents } from '../core/status-events.js';
import type { ConnectionStatus, Endpoint } from '../core/types.js';
import type { RequestSocket, Transport } from '../transport/types.js';
import type { DecodeLimits, EncodeOptions, Frame } from '../wire/codec.js';
import { decodeEnvelope, encodeRequest, errorFromWire, peekRequestId } from '../wire/envelopes.js';

/** Options of a single call. */
export interface CallOptions {
  /** Deadline in milliseconds from now. @default {@link DEFAULT_TIMEOUT_MS} (or the client's `timeoutMs`) */
  timeoutMs?: number;
  /** Cancels the call: it rejects with an {@link AbortError} and its reply, if one comes, is dropped. */
  signal?: AbortSignal;
}

/** Options of a call the server answers once per key (see {@link RpcClient.call}). */
export interface KeyedCallOptions extends CallOptions {
  /** Idempotency key (1..128 characters): a server that registered the method as idempotent answers a retry with
   * the same key with the first call's result instead of running it again. */
  key?: string;
}

/** Options of a call that may be sent again after a timeout (see {@link RpcClient.call}). */
export interface RetryCallOptions extends KeyedCallOptions {
  /**
   * Times the request is sent again, with the same idempotency key and the time left, when an attempt has had no
   * reply in `attemptTimeoutMs` (0..{@link MAX_RETRIES}; default 0). Earlier attempts go on waiting: the first reply
   * to any of them answers the call. Only for methods the server answers once per key: over NATS a retry may reach
   * another server of the service, which runs the handler unless the first server had answered.
   */
  retry?: number;
  /** How long to wait for a reply before the next attempt is sent, in ms (earlier attempts go on waiting).
   * @default the deadline divided by `retry + 1` */
  attemptTimeoutMs?: number;
}

/** Most retries of one call ({@link RetryCallOptions.retry}). */
export const MAX_RETRIES = 8;

/** A random idempotency key: 32 hex digits. */
export function newIdempotencyKey(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
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
  settled: boolean;
  /** A retry went out for this call: a request not yet sent is no longer sent (its reply is still taken). */
  superseded: boolean;
  timer: ReturnType<typeof setTimeout>;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A call as messages name it: the method, and the name it targets. */
function describeCall(method: string, name: string | undefined): string {
  return name === undefined ? method : `${method} ${JSON.stringify(name)}`;
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
    readonly endpoint: Endpoint,
    private readonly options: RpcClientOptions = {},
  ) {
    this.socket = transport.connectRequest(endpoint, (frames) => this.onReply(frames), {
      ...(options.limits?.maxMessageBytes !== undefined ? { maxMessageBytes: options.limits.maxMessageBytes } : {}),
      ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      onFailure: (error) => this.failAll(error),
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
    const where = describeEndpoint(this.endpoint);
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
  call(method: string, name: string | undefined, payload: unknown, options: RetryCallOptions = {}): Promise<unknown> {
    if (options.retry !== undefined && options.retry !== 0) return this.callRetrying(method, name, payload, options);
    return this.attempt(method, name, payload, options, undefined);
  }

  /**
   * One request: waits `options.timeoutMs`, and tells the server the caller waits `serverMs` (or as long); `onId` is
   * given the request's id once it is waiting for its reply.
   */
  private attempt(
    method: string,
    name: string | undefined,
    payload: unknown,
    options: KeyedCallOptions,
    serverMs: number | undefined,
    onId?: (id: number) => void,
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError('client is closed'));
    if (this.socket.failure) return Promise.reject(this.socket.failure);
    if (this.socket.status === 'unauthorized') return Promise.reject(this.authError());
    const max = this.options.maxPendingCalls ?? DEFAULT_MAX_PENDING_CALLS;
    if (this.pending.size >= max) return Promise.reject(new LimitError(`more than ${max} calls waiting for replies`));
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    if (!(timeoutMs > 0)) return Promise.reject(new InvalidArgumentError('timeoutMs', 'must be a positive number'));
    const signal = options.signal;
    if (signal?.aborted)
      return Promise.reject(new AbortError(`${describeCall(method, name)} aborted`, { cause: signal.reason }));
    let frames: Frame[];
    try {
      // The server gets the time left, so it can abandon the handler when the caller has given up.
      frames = encodeRequest(id, method, name, payload, this.options.encode, serverMs ?? timeoutMs, options.key);
    } catch (e) {
      return Promise.reject(e);
    }
    // The hot path of every call: the same semantics as `withDeadline`, with fewer allocations per call.
    return new Promise<unknown>((resolve, reject) => {
      const entry: Pending = {
        resolve,
        reject,
        settled: false,
        superseded: false,
        timer: setTimeout(() => {
          this.settle(
            id,
            new TimeoutError(
              `${describeCall(method, name)} timed out after ${timeoutMs} ms (server ${describeEndpoint(this.endpoint)} ` +
                `${this.socket.status}${this.socket.secure && this.socket.status !== 'connected' ? CURVE_HINT : ''})`,
              timeoutMs,
            ),
          );
        }, timeoutMs),
        signal,
        onAbort: undefined,
      };
      if (signal) {
        entry.onAbort = () =>
          this.settle(id, new AbortError(`${describeCall(method, name)} aborted`, { cause: signal.reason }));
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.pending.set(id, entry);
      onId?.(id);
      this.socket.send(frames, () => entry.settled || entry.superseded);
    });
  }

  /**
   * Sends the request up to `retry + 1` times, one key for all: a new attempt each `attemptTimeoutMs` without a
   * reply, while at least that much time is left. Every attempt waits until the call's deadline and carries the time
   * left to it as `d` (a server that is slow, not dead, goes on, and a retry that reaches it waits for that result),
   * so the first reply to any attempt answers the call; the others are then dropped. An error other than a timeout
   * ends the call at once.
   */
  private callRetrying(
    method: string,
    name: string | undefined,
    payload: unknown,
    options: RetryCallOptions,
  ): Promise<unknown> {
    const { retry = 0, attemptTimeoutMs, ...rest } = options;
    if (!Number.isSafeInteger(retry) || retry < 0 || retry > MAX_RETRIES) {
      return Promise.reject(new InvalidArgumentError('retry', `must be an integer from 0 to ${MAX_RETRIES}`));
    }
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const attemptMs = attemptTimeoutMs ?? timeoutMs / (retry + 1);
    if (!(attemptMs > 0)) {
      return Promise.reject(new InvalidArgumentError('attemptTimeoutMs', 'must be a positive number'));
    }
    const key = options.key ?? newIdempotencyKey();
    const end = performance.now() + timeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      const ids: number[] = [];
      let done = false;
      let waiting = 0;
      let sent = 0;
      let next: ReturnType<typeof setTimeout> | undefined;
      const finish = (error: unknown, value?: unknown): void => {
        if (done) return;
        done = true;
        clearTimeout(next);
        // The other attempts' replies, should they come, match no waiting id.
        for (const id of ids) this.settle(id, new AbortError('answered by another attempt'));
        if (error === undefined) resolve(value);
        else reject(error);
      };
      const launch = (): void => {
        if (done) return;
        const left = end - performance.now();
        const more = sent < retry && left > attemptMs;
        for (const id of ids) {
          const earlier = this.pending.get(id);
          if (earlier) earlier.superseded = true;
        }
        sent++;
        waiting++;
        this.attempt(method, name, payload, { ...rest, key, timeoutMs: Math.max(1, left) }, Math.max(1, left), (id) =>
          ids.push(id),
        ).then(
          (value) => finish(undefined, value),
          (e: unknown) => {
            waiting--;
            if (!(e instanceof TimeoutError)) return finish(e);
            if (waiting > 0 || next !== undefined) return;
            if (sent === 1) return finish(e);
            const what = describeCall(method, name);
            finish(
              new TimeoutError(`${what} timed out after ${timeoutMs} ms and ${sent} attempts`, timeoutMs, { cause: e }),
            );
          },
        );
        next = more
          ? setTimeout(() => {
              next = undefined;
              launch();
            }, attemptMs)
          : undefined;
      };
      launch();
    });
  }

  private settle(id: number, error: unknown, value?: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.settled = true;
    clearTimeout(p.timer);
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
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
