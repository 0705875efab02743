/**
 * Publish/subscribe on top of a {@link Transport}. A publisher keeps the latest message per topic; a subscriber that
 * (re)connects asks for it over the request channel ({@link serveLatest}, wire method `latest`), so a late joiner gets
 * it at once and nobody else receives it again: a subscription costs only the subscriber. A subscriber hands messages
 * to its callback one at a time through a bounded queue: when the callback is slower than the stream, the oldest
 * queued messages are dropped (and counted), so a slow subscriber always gets the newest data instead of a growing
 * backlog.
 *
 * @module
 */
import { DEFAULT_SUBSCRIBER_QUEUE } from '../core/defaults.js';
import { type AuthenticationError, ClosedError, InvalidArgumentError, LimitError } from '../core/errors.js';
import type { ConnectionStatus, Endpoint } from '../core/types.js';
import type { PublishSocket, SubscribeSocket, Transport } from '../transport/types.js';
import type { DecodeLimits, EncodeOptions, Frame } from '../wire/codec.js';
import { decodeEnvelope, encodePublish } from '../wire/envelopes.js';
import type { Binding, RpcServer } from './rpc-server.js';

/** Wire method answering with the latest message of a topic (docs/protocol.md, "Late joiners"). */
export const M_LATEST = 'latest';
/** Latest values one peer may fetch per second (with a burst of as many); more are refused with a `LimitError`. */
const LATEST_PER_PEER_PER_S = 4;
/** Latest-value fetches a subscriber tries again after a `LimitError`, and the wait before the first retry. */
const FETCH_RETRIES = 3;
const FETCH_RETRY_MS = 500;
/** Peers whose fetch budget is remembered at once; the oldest are forgotten beyond it. */
const LATEST_PEERS_MAX = 10_000;

/** What a subscriber holds of a topic, and what `latest` answers: the message's epoch, sequence number, payload. */
export interface LatestMessage {
  epoch: string;
  seq: number;
  payload: unknown;
}

/** Options of a {@link Publisher}. */
export interface PublisherOptions {
  /** Encoding options. */
  encode?: EncodeOptions;
  /** ZMTP heartbeat interval in ms. */
  heartbeatMs?: number;
}

/** Counters of a publisher. */
export interface PublisherStats {
  /** Messages published. */
  published: number;
  /** Subscriptions the transport reported. */
  subscriptions: number;
  /** Latest messages sent to late joiners (each to the one subscriber that asked). */
  resent: number;
  /** Latest-value fetches refused because one peer asked too often. */
  refusedFetches: number;
}

/** `n` random bytes as hex (Web Crypto: Node and browsers alike). */
function randomHex(n: number): string {
  let hex = '';
  for (const b of globalThis.crypto.getRandomValues(new Uint8Array(n))) hex += b.toString(16).padStart(2, '0');
  return hex;
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0)
    throw new InvalidArgumentError('topic', 'must be a non-empty string');
}

/** Sends messages under topics to every subscriber; keeps the latest per topic for late joiners. */
export class Publisher {
  private sockets: PublishSocket[] = [];
  private readonly latestValues = new Map<string, LatestMessage>();
  private readonly seqs = new Map<string, number>();
  private readonly counters: PublisherStats = { published: 0, subscriptions: 0, resent: 0, refusedFetches: 0 };
  /** Identifies this publisher's run; sequence numbers restart with a new epoch. */
  readonly epoch = randomHex(8);

  constructor(private readonly options: PublisherOptions = {}) {}

  /**
   * Binds every endpoint and starts publishing to all of them; resolves with the bound ports, in order. A failure
   * closes what was bound.
   */
  async start(bindings: readonly Binding[]): Promise<number[]> {
    if (this.sockets.length > 0) return this.ports;
    const opts = this.options.heartbeatMs !== undefined ? { heartbeatMs: this.options.heartbeatMs } : {};
    const bound: PublishSocket[] = [];
    try {
      for (const b of bindings) {
        const socket: PublishSocket = await b.transport.bindPublish(b.endpoint, () => this.onSubscribe(), opts);
        bound.push(socket);
      }
    } catch (e) {
      await Promise.all(bound.map((s) => s.close()));
      throw e;
    }
    this.sockets = bound;
    return this.ports;
  }

  /** The bound port of the first endpoint, once started. */
  get port(): number | undefined {
    return this.sockets[0]?.port;
  }

  /** The bound ports, in the order of the endpoints given to {@link start}. */
  get ports(): number[] {
    return this.sockets.map((s) => s.port);
  }

  /**
   * Publishes `payload` under `topic` and returns its sequence number. The payload's tensors are sent without a
   * copy and kept as the topic's latest value: do not modify their data after publishing (publish a copy instead).
   * @throws {@link ClosedError} when the publisher is not started, {@link InvalidArgumentError} when the payload
   * cannot be encoded.
   */
  publish(topic: string, payload: unknown): number {
    checkTopic(topic);
    if (this.sockets.length === 0) throw new ClosedError('publisher is not started');
    const seq = (this.seqs.get(topic) ?? 0) + 1;
    const frames = encodePublish(topic, seq, this.epoch, payload, this.options.encode);
    this.seqs.set(topic, seq);
    this.latestValues.set(topic, { epoch: this.epoch, seq, payload });
    this.counters.published++;
    for (const socket of this.sockets) socket.publish(topic, frames);
    return seq;
  }

  /** Sequence number of the latest message under `topic` (0 when none was published). */
  latestSeq(topic: string): number {
    return this.seqs.get(topic) ?? 0;
  }

  /** Counters. */
  stats(): PublisherStats {
    return { ...this.counters };
  }

  private onSubscribe(): void {
    this.counters.subscriptions++;
  }

  /**
   * The latest message of `topic` when it is newer than what the asker holds (`have`), else `null`.
   * @internal
   */
  latestFor(topic: string, have: { epoch: string; seq: number } | undefined): LatestMessage | null {
    const latest = this.latestValues.get(topic);
    if (!latest || (have && have.epoch === latest.epoch && have.seq >= latest.seq)) return null;
    this.counters.resent++;
    return latest;
  }

  /** @internal */
  refusedFetch(): void {
    this.counters.refusedFetches++;
  }

  /** Stops publishing and releases the port. The latest values are kept for a later {@link start}. */
  async stop(): Promise<void> {
    const sockets = this.sockets;
    this.sockets = [];
    await Promise.all(sockets.map((s) => s.close()));
  }
}

/** One message as a subscriber's callback gets it. */
export interface Delivery<T = unknown> {
  topic: string;
  /** Sequence number within the publisher's epoch (counts up by one per message on the topic). */
  seq: number;
  /** The publisher's run; changes when the publisher restarts. */
  epoch: string;
  payload: T;
}

/** Options of a {@link Subscriber}. */
export interface SubscriberOptions {
  /** Messages queued for a slow callback before the oldest is dropped. @default {@link DEFAULT_SUBSCRIBER_QUEUE} */
  queueSize?: number;
  /** Limits on incoming messages. */
  limits?: DecodeLimits;
  /** ZMTP heartbeat interval in ms. */
  heartbeatMs?: number;
  /** Called on every connection status change. */
  onStatus?: (status: ConnectionStatus) => void;
  /** Called when the callback throws or rejects (the subscriber goes on). */
  onError?: (error: unknown) => void;
  /**
   * Asks the publisher for a topic's latest message (over the request channel; `have` is what this subscriber holds).
   * Called each time the subscription connects, so a late joiner, or one back from a disconnect, gets the current
   * value at once.
   */
  fetchLatest?: (topic: string, have: { epoch: string; seq: number } | undefined) => Promise<LatestMessage | null>;
}

/**
 * Serves `latest` for `publisher` on `rpc`: request name the topic, payload `{ ep, s }` (what the subscriber holds, or
 * nil), reply `{ ep, s, p }` or nil when there is nothing newer. Each peer may fetch a few values a second.
 */
export function serveLatest(rpc: RpcServer, publisher: Publisher): void {
  const budget = new Map<string, { tokens: number; at: number }>();
  rpc.handle(M_LATEST, (payload, ctx) => {
    const topic = ctx.name;
    if (topic === undefined) throw new InvalidArgumentError('n', 'latest needs a topic');
    const now = Date.now();
    const b = budget.get(ctx.peer) ?? { tokens: LATEST_PER_PEER_PER_S, at: now };
    b.tokens = Math.min(LATEST_PER_PEER_PER_S, b.tokens + ((now - b.at) / 1000) * LATEST_PER_PEER_PER_S);
    b.at = now;
    if (b.tokens < 1) {
      publisher.refusedFetch();
      throw new LimitError(`more than ${LATEST_PER_PEER_PER_S} latest-value fetches a second from this client`);
    }
    b.tokens -= 1;
    budget.delete(ctx.peer);
    budget.set(ctx.peer, b);
    if (budget.size > LATEST_PEERS_MAX) budget.delete(budget.keys().next().value as string);
    const have = payload as { ep?: unknown; s?: unknown } | null;
    const held =
      have && typeof have.ep === 'string' && typeof have.s === 'number' ? { epoch: have.ep, seq: have.s } : undefined;
    const latest = publisher.latestFor(topic, held);
    return latest && { ep: latest.epoch, s: latest.seq, p: latest.payload };
  });
}

/** The `latest` fetch of a subscriber whose client calls `call(method, name, payload)` on the publisher's server. */
export function latestFetcher(
  call: (method: string, name: string, payload: unknown) => Promise<unknown>,
): (topic: string, have: { epoch: string; seq: number } | undefined) => Promise<LatestMessage | null> {
  return async (topic, have) => {
    const reply = (await call(M_LATEST, topic, have ? { ep: have.epoch, s: have.seq } : null)) as {
      ep?: unknown;
      s?: unknown;
      p?: unknown;
    } | null;
    if (!reply || typeof reply.ep !== 'string' || typeof reply.s !== 'number') return null;
    return { epoch: reply.ep, seq: reply.s, payload: reply.p };
  };
}

/** Subscriber counters all at zero (a subscriber that has received nothing). */
export function emptySubscriberStats(): SubscriberStats {
  return { received: 0, delivered: 0, dropped: 0, duplicates: 0, malformed: 0, callbackErrors: 0 };
}

/** Counters of a subscriber. */
export interface SubscriberStats {
  /** Messages received (duplicates excluded). */
  received: number;
  /** Messages handed to the callback. */
  delivered: number;
  /** Messages lost: dropped from the full queue, or skipped by the publisher for this subscriber (sequence gaps). */
  dropped: number;
  /** Messages received again (late-joiner resends of a message already seen). */
  duplicates: number;
  /** Messages that could not be decoded. */
  malformed: number;
  /** Callback invocations that threw. */
  callbackErrors: number;
}

/** Receives messages published under some topics and hands them to a callback, newest first when it falls behind. */
export class Subscriber<T = unknown> {
  private readonly socket: SubscribeSocket;
  private readonly queue: Delivery<T>[] = [];
  private readonly seen = new Map<string, { epoch: string; seq: number }>();
  private readonly latestByTopic = new Map<string, Delivery<T>>();
  private draining = false;
  private closed = false;
  private fetched = false;
  private fetching = false;
  private fetchAgain = false;
  private fetchRetries = 0;
  private readonly counters: SubscriberStats = emptySubscriberStats();
  private readonly queueSize: number;

  constructor(
    transport: Transport,
    endpoint: Endpoint,
    private readonly topics: readonly string[],
    private readonly onMessage: (message: Delivery<T>) => void | Promise<void>,
    private readonly options: SubscriberOptions = {},
  ) {
    for (const t of topics) checkTopic(t);
    this.queueSize = options.queueSize ?? DEFAULT_SUBSCRIBER_QUEUE;
    if (!Number.isInteger(this.queueSize) || this.queueSize < 1) {
      throw new InvalidArgumentError('queueSize', 'must be a positive integer');
    }
    this.socket = transport.connectSubscribe(endpoint, topics, (topic, frames) => this.onFrames(topic, frames), {
      ...(options.limits?.maxMessageBytes !== undefined ? { maxMessageBytes: options.limits.maxMessageBytes } : {}),
      ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      onStatus: (status) => {
        if (status === 'connected') this.fetchLatest();
        options.onStatus?.(status);
      },
    });
    // A transport that shares one connection per client may attach this subscription to a connection that is
    // already up: no status change then, so the latest values are fetched at once.
    queueMicrotask(() => {
      if (this.socket.status === 'connected' && !this.fetched) this.fetchLatest();
    });
  }

  /** Asks the publisher for the latest message of every topic (on each connect); one round of fetches at a time. */
  private fetchLatest(): void {
    const fetch = this.options.fetchLatest;
    if (!fetch || this.closed) return;
    this.fetched = true;
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = true;
    const round = this.topics.map((topic) =>
      fetch(topic, this.seen.get(topic)).then(
        (m) => {
          if (m) this.accept(topic, m.epoch, m.seq, m.payload as T);
        },
        (e: unknown) => {
          // The stream still delivers the next message; a failed fetch only delays the first one. Refused for
          // asking too often (several subscriptions on one client): asked again a little later, a few times.
          if (e instanceof LimitError && this.fetchRetries < FETCH_RETRIES) {
            this.fetchRetries++;
            setTimeout(() => this.fetchLatest(), FETCH_RETRY_MS * this.fetchRetries).unref?.();
          }
        },
      ),
    );
    void Promise.all(round).then(() => {
      this.fetching = false;
      if (this.fetchAgain) {
        this.fetchAgain = false;
        this.fetchLatest();
      }
    });
  }

  /** Connection status. `'unauthorized'`: the publisher refused this subscriber's security; see {@link authFailure}. */
  get status(): ConnectionStatus {
    return this.closed ? 'closed' : this.socket.status;
  }

  /** Why the publisher refused this subscriber's security (nothing arrives meanwhile), while {@link status} is
   * `'unauthorized'`. */
  get authFailure(): AuthenticationError | undefined {
    return this.closed ? undefined : this.socket.authFailure;
  }

  /** Counters. */
  stats(): SubscriberStats {
    return { ...this.counters };
  }

  /** The latest message received under `topic`, delivered or not. */
  latest(topic: string): Delivery<T> | undefined {
    return this.latestByTopic.get(topic);
  }

  private onFrames(topic: string, frames: Frame[]): void {
    if (this.closed || !this.topics.includes(topic)) return;
    let env: ReturnType<typeof decodeEnvelope>;
    try {
      env = decodeEnvelope(frames, this.options.limits);
    } catch {
      this.counters.malformed++;
      return;
    }
    if (env.kind !== 'pub' || env.topic !== topic) {
      this.counters.malformed++;
      return;
    }
    this.accept(topic, env.epoch, env.seq, env.payload as T);
  }

  /** Takes a message from the stream or from a latest-value fetch: duplicates dropped, gaps counted, then queued. */
  private accept(topic: string, epoch: string, seq: number, payload: T): void {
    if (this.closed) return;
    const last = this.seen.get(topic);
    if (last && last.epoch === epoch) {
      if (seq <= last.seq) {
        this.counters.duplicates++;
        return;
      }
      this.counters.dropped += seq - last.seq - 1;
    }
    this.seen.set(topic, { epoch, seq });
    this.counters.received++;
    const delivery: Delivery<T> = { topic, seq, epoch, payload };
    this.latestByTopic.set(topic, delivery);
    this.queue.push(delivery);
    while (this.queue.length > this.queueSize) {
      this.queue.shift();
      this.counters.dropped++;
    }
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (!this.closed && this.queue.length > 0) {
        const next = this.queue.shift()!;
        this.counters.delivered++;
        try {
          await this.onMessage(next);
        } catch (e) {
          this.counters.callbackErrors++;
          this.options.onError?.(e);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Stops receiving; queued messages are discarded. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.socket.close();
  }
}
