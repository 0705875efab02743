/**
 * An in-process transport: servers and clients in the same process exchange frames through memory, with the same
 * semantics as the ZeroMQ transport (clients wait for a server that is not there yet, stale messages are dropped,
 * late subscribers are announced). It serves tests, and programs that run both sides in one process.
 *
 * @module
 */
import { EdgeMLError } from '../../core/errors.js';
import type { Endpoint } from '../../core/types.js';
import type { Frame } from '../../wire/codec.js';
import type {
  Address,
  ClientHandlers,
  ConnectionStatus,
  PeerId,
  PublishSocket,
  ReplySocket,
  RequestSocket,
  SocketOptions,
  SubscribeSocket,
  Transport,
} from '../types.js';

/** Hex of a peer id (no `Buffer`: this transport runs in browsers too). */
function hexOf(bytes: Uint8Array): string {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/** `setImmediate` where it exists (Node), a zero timeout elsewhere. */
function later(f: () => void): void {
  if (typeof setImmediate === 'function') setImmediate(f);
  else setTimeout(f, 0);
}

type StatusSink = ((s: ConnectionStatus) => void) | undefined;

class Client {
  status: ConnectionStatus = 'reconnecting';
  constructor(private readonly onStatus: StatusSink) {}
  setStatus(s: ConnectionStatus): void {
    if (this.status === 'closed' || this.status === s) return;
    this.status = s;
    this.onStatus?.(s);
  }
}

class InprocRequest extends Client implements RequestSocket {
  readonly id = globalThis.crypto.getRandomValues(new Uint8Array(8));
  readonly key = hexOf(this.id);
  server: InprocReply | undefined;
  private pending: { frames: Frame[]; isStale: (() => boolean) | undefined }[] = [];
  constructor(
    private readonly hub: InprocTransport,
    private readonly addressKey: string,
    readonly onReply: (frames: Frame[]) => void,
    onStatus: StatusSink,
  ) {
    super(onStatus);
  }
  send(frames: Frame[], isStale?: () => boolean): void {
    if (this.status === 'closed') return;
    if (this.server) this.server.deliver(this, frames);
    else this.pending.push({ frames, isStale });
  }
  attach(server: InprocReply | undefined): void {
    this.server = server;
    this.setStatus(server ? 'connected' : 'disconnected');
    if (!server) return;
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) if (!p.isStale?.()) server.deliver(this, p.frames);
  }
  close(): void {
    this.setStatus('closed');
    this.status = 'closed';
    this.pending = [];
    this.hub.requestClients.get(this.addressKey)?.delete(this);
    this.server?.peers.delete(this.key);
  }
}

class InprocReply implements ReplySocket {
  readonly peers = new Map<string, InprocRequest>();
  private closed = false;
  constructor(
    private readonly hub: InprocTransport,
    private readonly addressKey: string,
    readonly port: number,
    private readonly onRequest: (peer: PeerId, frames: Frame[]) => void,
  ) {}
  deliver(from: InprocRequest, frames: Frame[]): void {
    this.peers.set(from.key, from);
    queueMicrotask(() => this.onRequest(from.id, frames));
  }
  send(peer: PeerId, frames: Frame[]): void {
    // Like a closed ROUTER socket: nothing leaves a closed server.
    if (this.closed) return;
    const client = this.peers.get(hexOf(peer));
    if (client && client.status !== 'closed') queueMicrotask(() => client.onReply(frames));
  }
  async close(): Promise<void> {
    this.closed = true;
    this.peers.clear();
    if (this.hub.replyServers.get(this.addressKey) !== this) return;
    this.hub.replyServers.delete(this.addressKey);
    for (const c of this.hub.requestClients.get(this.addressKey) ?? []) c.attach(undefined);
  }
}

class InprocSubscribe extends Client implements SubscribeSocket {
  /** The publisher this subscriber has subscribed with, so a subscription is announced once per publisher. */
  joined: InprocPublish | undefined;
  constructor(
    private readonly hub: InprocTransport,
    private readonly addressKey: string,
    readonly topics: readonly string[],
    readonly onMessage: (topic: string, frames: Frame[]) => void,
    onStatus: StatusSink,
  ) {
    super(onStatus);
  }
  close(): void {
    this.setStatus('closed');
    this.status = 'closed';
    this.hub.subscribers.get(this.addressKey)?.delete(this);
  }
}

class InprocPublish implements PublishSocket {
  constructor(
    private readonly hub: InprocTransport,
    readonly key: string,
    readonly port: number,
    readonly onSubscribe: ((topic: string) => void) | undefined,
  ) {}
  publish(topic: string, frames: Frame[]): void {
    if (this.hub.publishers.get(this.key) !== this) return;
    for (const s of this.hub.subscribers.get(this.key) ?? []) {
      if (s.topics.some((t) => topic.startsWith(t))) queueMicrotask(() => s.onMessage(topic, frames));
    }
  }
  async close(): Promise<void> {
    if (this.hub.publishers.get(this.key) !== this) return;
    this.hub.publishers.delete(this.key);
    for (const s of this.hub.subscribers.get(this.key) ?? []) s.setStatus('disconnected');
  }
}

let nextPort = 20_000;

/** The in-process transport. Each instance is its own network: servers and clients must share the instance. */
export class InprocTransport implements Transport {
  /** @internal */ readonly replyServers = new Map<string, InprocReply>();
  /** @internal */ readonly requestClients = new Map<string, Set<InprocRequest>>();
  /** @internal */ readonly publishers = new Map<string, InprocPublish>();
  /** @internal */ readonly subscribers = new Map<string, Set<InprocSubscribe>>();

  private key(address: Address, port = address.port): string {
    return `${address.host}:${port}`;
  }

  private freePort(address: Address, taken: Map<string, unknown>): number {
    // An `inproc://name` URL names its socket exactly (port 0 included); port 0 of another address picks a free one.
    if (address.port !== 0 || (address as Partial<Endpoint>).scheme === 'inproc') {
      if (taken.has(this.key(address))) throw new EdgeMLError(`cannot listen on ${this.key(address)}: address in use`);
      return address.port;
    }
    while (taken.has(this.key(address, nextPort))) nextPort++;
    return nextPort++;
  }

  async bindReply(
    address: Address,
    onRequest: (peer: PeerId, frames: Frame[]) => void,
    _options?: SocketOptions,
  ): Promise<ReplySocket> {
    const port = this.freePort(address, this.replyServers);
    const key = this.key(address, port);
    const server = new InprocReply(this, key, port, onRequest);
    this.replyServers.set(key, server);
    // Waiting clients connect once the caller holds the socket (as over TCP, where connecting takes a while):
    // requests they queued must not reach `onRequest` before the caller can send replies.
    later(() => {
      if (this.replyServers.get(key) !== server) return;
      for (const c of this.requestClients.get(key) ?? []) if (c.server !== server) c.attach(server);
    });
    return server;
  }

  connectRequest(
    address: Address,
    onReply: (frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): RequestSocket {
    const key = this.key(address);
    const client = new InprocRequest(this, key, onReply, options?.onStatus);
    const set = this.requestClients.get(key) ?? new Set();
    this.requestClients.set(key, set);
    set.add(client);
    const server = this.replyServers.get(key);
    if (server) {
      queueMicrotask(() => {
        if (this.replyServers.get(key) === server && client.server !== server && client.status !== 'closed') {
          client.attach(server);
        }
      });
    }
    return client;
  }

  async bindPublish(
    address: Address,
    onSubscribe?: (topic: string) => void,
    _options?: SocketOptions,
  ): Promise<PublishSocket> {
    const port = this.freePort(address, this.publishers);
    const key = this.key(address, port);
    const pub = new InprocPublish(this, key, port, onSubscribe);
    this.publishers.set(key, pub);
    // Waiting subscribers join once the caller holds the socket, so it can answer their subscriptions (late joiners).
    later(() => {
      if (this.publishers.get(key) !== pub) return;
      for (const s of this.subscribers.get(key) ?? []) this.join(pub, s);
    });
    return pub;
  }

  private join(pub: InprocPublish, sub: InprocSubscribe): void {
    if (sub.status === 'closed' || sub.joined === pub || this.publishers.get(pub.key) !== pub) return;
    sub.joined = pub;
    sub.setStatus('connected');
    for (const t of sub.topics) pub.onSubscribe?.(t);
  }

  connectSubscribe(
    address: Address,
    topics: readonly string[],
    onMessage: (topic: string, frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): SubscribeSocket {
    const key = this.key(address);
    const sub = new InprocSubscribe(this, key, topics, onMessage, options?.onStatus);
    const set = this.subscribers.get(key) ?? new Set();
    this.subscribers.set(key, set);
    set.add(sub);
    const pub = this.publishers.get(key);
    if (pub) queueMicrotask(() => this.join(pub, sub));
    return sub;
  }
}

let shared: InprocTransport | undefined;

/**
 * The in-process network that `inproc://` URLs name when no `transport` option is given: one per copy of edgeml,
 * made on first use.
 */
export function defaultInprocTransport(): InprocTransport {
  shared ??= new InprocTransport();
  return shared;
}
