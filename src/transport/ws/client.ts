/**
 * The client side of the WebSocket transport: one connection per server URL, shared by the request socket and the
 * subscribe sockets of one client (so one WebSocket carries its requests, replies and subscriptions). The connection
 * reconnects by itself with backoff, holds requests while no server is there (dropping those that went stale),
 * subscribes again after each reconnect, sends heartbeats and counts a silent server as gone.
 *
 * Runs in browsers: the global `WebSocket` is used where it exists, the `ws` package (a dynamic import, never in a
 * browser bundle) on Node 20 or when Node-only TLS options are given. No Node built-ins.
 *
 * @module
 */
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_FRAMES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_RECONNECT_MAX_MS,
  DEFAULT_RECONNECT_MS,
  WS_CLIENT_SILENT_INTERVALS,
} from '../../core/defaults.js';
import { AuthenticationError, EdgeMLError, ProtocolError } from '../../core/errors.js';
import type {
  ClientHandlers,
  ConnectionStatus,
  Endpoint,
  Frame,
  RequestSocket,
  SocketOptions,
  SubscribeSocket,
} from '../types.js';
import type { WsClientOptions } from '../ws-options.js';
import {
  decodeWsMessage,
  encodeWsMessage,
  frameTopic,
  tokenSubprotocol,
  topicFrame,
  WS_CLOSE_FORBIDDEN_ORIGIN,
  WS_CLOSE_UNAUTHORIZED,
  WS_SUBPROTOCOL,
  WsKind,
  type WsKindCode,
} from './framing.js';

/** The part of the WebSocket API (browsers, undici, `ws`) this transport uses. */
interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
type WebSocketClass = new (url: string, protocols: string[], options?: object) => WebSocketLike;

const OPEN = 1;

/** A `WebSocket` class, and the `binaryType` that hands over received bytes without a copy. */
interface WebSocketImpl {
  Ctor: WebSocketClass;
  binaryType: string;
}

let wsPackage: Promise<WebSocketImpl> | undefined;

/** The `WebSocket` class to use with these options. */
function webSocketClass(options: WsClientOptions): Promise<WebSocketImpl> {
  if (options.WebSocket !== undefined) {
    return Promise.resolve({ Ctor: options.WebSocket as WebSocketClass, binaryType: 'arraybuffer' });
  }
  const nodeOnly = options.ca !== undefined || options.rejectUnauthorized !== undefined;
  const global = (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
  if (global !== undefined && !nodeOnly) return Promise.resolve({ Ctor: global, binaryType: 'arraybuffer' });
  // The `ws` package gives its own buffers (views, no copy) as 'nodebuffer'.
  wsPackage ??= import('ws').then((m) => ({
    Ctor: m.WebSocket as unknown as WebSocketClass,
    binaryType: 'nodebuffer',
  }));
  return wsPackage;
}

function bytesOf(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data instanceof Uint8Array) return data;
  return undefined;
}

/** A client socket on a {@link WsConnection}: request or subscribe. */
abstract class WsClientSocket {
  protected closed = false;
  constructor(
    protected readonly connection: WsConnection,
    private readonly handlers: ClientHandlers | undefined,
  ) {}
  get status(): ConnectionStatus {
    return this.closed ? 'closed' : this.connection.status;
  }
  get authFailure(): AuthenticationError | undefined {
    return this.closed ? undefined : this.connection.authFailure;
  }
  get secure(): boolean {
    return this.connection.secure;
  }
  /** @internal */
  statusChanged(s: ConnectionStatus): void {
    if (!this.closed) this.handlers?.onStatus?.(s);
  }
  /** @internal */
  failed(e: EdgeMLError): void {
    if (!this.closed) this.handlers?.onFailure?.(e);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connection.detach(this);
    this.handlers?.onStatus?.('closed');
  }
}

class WsRequestSocket extends WsClientSocket implements RequestSocket {
  constructor(
    connection: WsConnection,
    readonly onReply: (frames: Frame[]) => void,
    handlers: ClientHandlers | undefined,
  ) {
    super(connection, handlers);
  }
  get failure(): EdgeMLError | undefined {
    return this.connection.failure;
  }
  send(frames: Frame[], isStale?: () => boolean): void {
    if (!this.closed) this.connection.request(frames, isStale);
  }
}

class WsSubscribeSocket extends WsClientSocket implements SubscribeSocket {
  constructor(
    connection: WsConnection,
    readonly topics: readonly string[],
    readonly onMessage: (topic: string, frames: Frame[]) => void,
    handlers: ClientHandlers | undefined,
  ) {
    super(connection, handlers);
  }
}

/** One WebSocket to one server URL, shared by a client's sockets. See the module comment. */
export class WsConnection {
  status: ConnectionStatus = 'reconnecting';
  authFailure: AuthenticationError | undefined;
  failure: EdgeMLError | undefined;
  /** Messages received that were not valid framing. */
  malformed = 0;
  private ws: WebSocketLike | undefined;
  private ready = false;
  private readonly requesters = new Set<WsRequestSocket>();
  private readonly subscribers = new Set<WsSubscribeSocket>();
  private queue: { frames: Frame[]; isStale: (() => boolean) | undefined }[] = [];
  private retryMs = DEFAULT_RECONNECT_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lastReceived = 0;
  /** When the heartbeat ping now unanswered was sent (0: none). */
  private pingAt = 0;
  private readonly heartbeatMs: number;
  private readonly maxMessageBytes: number;
  private readonly url: string;

  constructor(
    endpoint: Endpoint,
    private readonly options: WsClientOptions,
    socketOptions: SocketOptions | undefined,
    private readonly release: () => void,
  ) {
    const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
    // An injected WebSocket transport serves other schemes' URLs too (`tcp://host:port` as `ws://host:port/`).
    const scheme = endpoint.scheme === 'wss' ? 'wss' : 'ws';
    this.url = `${scheme}://${host}:${endpoint.port}${endpoint.path || '/'}`;
    this.heartbeatMs = socketOptions?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.maxMessageBytes = socketOptions?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    webSocketClass(options).then(
      (impl) => {
        if (this.status !== 'closed') this.open(impl);
      },
      (e: unknown) => this.fail(e),
    );
  }

  /** True for `wss://`. */
  get secure(): boolean {
    return this.url.startsWith('wss:');
  }

  /** True once a request socket uses this connection. */
  get hasRequester(): boolean {
    return this.requesters.size > 0;
  }

  request(frames: Frame[], isStale: (() => boolean) | undefined): void {
    if (this.status === 'closed' || this.failure) return;
    if (this.ready && this.ws) this.send(WsKind.message, frames);
    else this.queue.push({ frames, isStale });
  }

  connectRequest(onReply: (frames: Frame[]) => void, handlers: ClientHandlers | undefined): RequestSocket {
    const s = new WsRequestSocket(this, onReply, handlers);
    this.requesters.add(s);
    return s;
  }

  connectSubscribe(
    topics: readonly string[],
    onMessage: (topic: string, frames: Frame[]) => void,
    handlers: ClientHandlers | undefined,
  ): SubscribeSocket {
    const s = new WsSubscribeSocket(this, topics, onMessage, handlers);
    this.subscribers.add(s);
    if (this.ready) for (const t of topics) this.send(WsKind.subscribe, [topicFrame(t)]);
    return s;
  }

  /** @internal A socket closed; the last one closes the connection. */
  detach(socket: WsClientSocket): void {
    if (socket instanceof WsRequestSocket) {
      this.requesters.delete(socket);
      if (this.requesters.size === 0) this.queue = [];
    } else if (socket instanceof WsSubscribeSocket) {
      this.subscribers.delete(socket);
      if (this.ready) {
        const still = new Set([...this.subscribers].flatMap((s) => s.topics));
        for (const t of socket.topics) if (!still.has(t)) this.send(WsKind.unsubscribe, [topicFrame(t)]);
      }
    }
    if (this.requesters.size > 0 || this.subscribers.size > 0) return;
    this.status = 'closed';
    this.queue = [];
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) this.drop(ws, 1000, 'client closed');
    this.release();
  }

  private fail(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    this.failure = new EdgeMLError(`cannot open WebSocket connections here: ${message}`, 'EDGEML_ERROR', { cause: e });
    this.queue = [];
    for (const s of [...this.requesters, ...this.subscribers]) s.failed(this.failure);
  }

  private setStatus(s: ConnectionStatus): void {
    if (this.status === 'closed' || this.status === s) return;
    this.status = s;
    for (const socket of [...this.requesters, ...this.subscribers]) socket.statusChanged(s);
  }

  private open(impl: WebSocketImpl): void {
    const protocols = [WS_SUBPROTOCOL];
    if (this.options.token !== undefined) protocols.push(tokenSubprotocol(this.options.token));
    const nodeOptions: Record<string, unknown> = {
      maxPayload: this.maxMessageBytes + 64 * 1024,
      perMessageDeflate: false,
    };
    if (this.options.ca !== undefined) nodeOptions.ca = this.options.ca;
    if (this.options.rejectUnauthorized !== undefined) nodeOptions.rejectUnauthorized = this.options.rejectUnauthorized;
    let ws: WebSocketLike;
    try {
      ws = new impl.Ctor(this.url, protocols, nodeOptions);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.ws = ws;
    this.ready = false;
    try {
      ws.binaryType = impl.binaryType;
    } catch {
      // A WebSocket that keeps its binaryType.
    }
    ws.onopen = () => {
      this.lastReceived = Date.now();
      this.startHeartbeat(ws);
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastReceived = Date.now();
      this.onData(ws, ev.data);
    };
    ws.onerror = () => undefined;
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.lost(ev.code, ev.reason);
    };
  }

  private onData(ws: WebSocketLike, data: unknown): void {
    const bytes = bytesOf(data);
    let msg: ReturnType<typeof decodeWsMessage>;
    try {
      if (!bytes) throw new ProtocolError('WebSocket text message');
      if (bytes.byteLength > this.maxMessageBytes + 64 * 1024) throw new ProtocolError('message over the limit');
      msg = decodeWsMessage(bytes, DEFAULT_MAX_FRAMES + 1);
    } catch {
      this.malformed++;
      return;
    }
    switch (msg.kind) {
      case WsKind.ready:
        this.onReady(ws);
        return;
      case WsKind.message:
        for (const r of this.requesters) r.onReply(msg.frames);
        return;
      case WsKind.publish: {
        const [topicBytes, ...frames] = msg.frames;
        let topic: string;
        try {
          topic = frameTopic(topicBytes!);
        } catch {
          this.malformed++;
          return;
        }
        for (const s of this.subscribers) if (s.topics.some((t) => topic.startsWith(t))) s.onMessage(topic, frames);
        return;
      }
      case WsKind.ping:
        this.send(WsKind.pong, []);
        return;
      case WsKind.pong:
        return;
      default:
        this.malformed++;
    }
  }

  private onReady(ws: WebSocketLike): void {
    if (this.ready || this.ws !== ws) return;
    this.ready = true;
    this.retryMs = DEFAULT_RECONNECT_MS;
    this.authFailure = undefined;
    // One subscribe per socket and topic, as separate connections would send (the publisher counts them).
    for (const s of this.subscribers) for (const t of s.topics) this.send(WsKind.subscribe, [topicFrame(t)]);
    const queued = this.queue;
    this.queue = [];
    this.setStatus('connected');
    for (const q of queued) if (!q.isStale?.()) this.send(WsKind.message, q.frames);
  }

  private send(kind: WsKindCode, frames: readonly Frame[]): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return;
    try {
      ws.send(encodeWsMessage(kind, frames));
    } catch {
      // Closing: the close event follows.
    }
  }

  /** The connection ended: report it, then connect again after a while. */
  private lost(code: number, reason: string): void {
    const wasReady = this.ready;
    this.ws = undefined;
    this.ready = false;
    this.stopHeartbeat();
    if (this.status === 'closed') return;
    if (code === WS_CLOSE_UNAUTHORIZED || code === WS_CLOSE_FORBIDDEN_ORIGIN) {
      const why = reason || (code === WS_CLOSE_UNAUTHORIZED ? 'token refused' : 'origin not allowed');
      this.authFailure = new AuthenticationError(`the server at ${this.url} refused this client: ${why}`);
      this.setStatus('unauthorized');
    } else if (this.status !== 'unauthorized') {
      this.setStatus(wasReady ? 'disconnected' : 'reconnecting');
    }
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, DEFAULT_RECONNECT_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.status === 'closed') return;
      if (this.status !== 'unauthorized') this.setStatus('reconnecting');
      void webSocketClass(this.options).then((impl) => {
        if (this.status !== 'closed' && !this.ws) this.open(impl);
      });
    }, wait);
    (this.retryTimer as { unref?: () => void }).unref?.();
  }

  private drop(ws: WebSocketLike, code: number, reason: string): void {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    try {
      ws.close(code, reason);
    } catch {
      // Already closing.
    }
  }

  private startHeartbeat(ws: WebSocketLike): void {
    this.stopHeartbeat();
    if (!(this.heartbeatMs > 0)) return;
    this.pingAt = 0;
    this.heartbeat = setInterval(() => {
      if (this.ws !== ws) return;
      const now = Date.now();
      if (this.pingAt !== 0 && this.lastReceived < this.pingAt) {
        // Gone only when our own ping went unanswered that long: a page in a background tab runs this timer
        // rarely, and long silence alone says nothing then.
        if (now - this.pingAt > this.heartbeatMs * (WS_CLIENT_SILENT_INTERVALS - 1)) {
          // The server is gone without closing: stop waiting for its close handshake.
          this.drop(ws, 4000, 'server silent');
          this.lost(1006, 'server silent');
        }
      } else if (now - this.lastReceived >= this.heartbeatMs) {
        this.pingAt = now;
        this.send(WsKind.ping, []);
      }
    }, this.heartbeatMs);
    (this.heartbeat as { unref?: () => void }).unref?.();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
