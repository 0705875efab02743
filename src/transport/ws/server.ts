/**
 * The server side of the WebSocket transport (Node only, npm `ws`): one listener per host and port, serving one or
 * more paths; on each path, the reply socket and the publish socket of one server share the connections (each client
 * carries its requests, replies and subscriptions on one WebSocket).
 *
 * At the upgrade, before any message is read: the path, `maxClients` (HTTP 503 beyond it), the `edgeml.v1`
 * subprotocol (HTTP 400 without it), then the `Origin` allow-list and the token. A refused origin or token completes
 * the handshake and closes at once with code 4403 or 4401 and a reason, because a browser reports a refused upgrade
 * as a bare network error; nothing the peer sends is read. Accepted peers get a `ready` message first.
 *
 * Sending is bounded per connection by `sendBudgetBytes` of `bufferedAmount`: past it, stream messages to that peer
 * wait in a map holding the latest per topic (older ones are dropped), and after a reply the peer's socket is paused
 * (its requests are not read) until the budget drains. Heartbeats: the server pings every `heartbeatMs`; a peer that
 * neither answers nor reads (its `bufferedAmount` does not shrink) for 3 intervals is terminated.
 *
 * @module
 */
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_FRAMES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_WS_MAX_CLIENTS,
  DEFAULT_WS_SEND_BUDGET_BYTES,
} from '../../core/defaults.js';
import { EdgeMLError } from '../../core/errors.js';
import type { Endpoint, Frame, PeerId, PublishSocket, ReplySocket, SocketOptions } from '../types.js';
import type { WsServerOptions } from '../ws-options.js';
import { Peer, peerKey, rejectUpgrade, type WsServerCounters } from './peer.js';

export type { WsServerCounters } from './peer.js';

import {
  decodeWsMessage,
  frameTopic,
  subprotocolToken,
  WS_CLOSE_FORBIDDEN_ORIGIN,
  WS_CLOSE_PROTOCOL_ERROR,
  WS_CLOSE_TOO_BIG,
  WS_CLOSE_UNAUTHORIZED,
  WS_SUBPROTOCOL,
  WsKind,
} from './framing.js';

/** What is served on one path. */
class Route {
  reply: { onRequest: (peer: PeerId, frames: Frame[]) => void; socket: WsReplySocket } | undefined;
  publish: { onSubscribe: ((topic: string) => void) | undefined; socket: WsPublishSocket } | undefined;
  readonly peers = new Map<string, Peer>();
}

class WsReplySocket implements ReplySocket {
  constructor(
    private readonly listener: WsListener,
    private readonly route: Route,
  ) {}
  get port(): number {
    return this.listener.port;
  }
  send(peer: PeerId, frames: Frame[]): void {
    if (this.route.reply?.socket !== this) return;
    if (peer.byteLength !== 8) return;
    this.route.peers.get(peerKey(peer))?.reply(frames);
  }
  async close(): Promise<void> {
    if (this.route.reply?.socket !== this) return;
    this.route.reply = undefined;
    await this.listener.detach(this.route);
  }
}

class WsPublishSocket implements PublishSocket {
  constructor(
    private readonly listener: WsListener,
    private readonly route: Route,
  ) {}
  get port(): number {
    return this.listener.port;
  }
  publish(topic: string, frames: Frame[]): void {
    if (this.route.publish?.socket !== this) return;
    for (const peer of this.route.peers.values()) {
      for (const t of peer.topics) {
        if (topic.startsWith(t)) {
          peer.publish(topic, frames);
          break;
        }
      }
    }
  }
  async close(): Promise<void> {
    if (this.route.publish?.socket !== this) return;
    this.route.publish = undefined;
    await this.listener.detach(this.route);
  }
}

function pem(v: string | Uint8Array): string | Buffer {
  return typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function pathOf(endpoint: Endpoint): string {
  return endpoint.path === '' ? '/' : endpoint.path;
}

/** One listening port (and its HTTP server) with the paths served on it. */
export class WsListener {
  port = 0;
  private readonly routes = new Map<string, Route>();
  private readonly wss: WebSocketServer;
  private http: HttpServer | undefined;
  private readonly ownServer: boolean;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly maxClients: number;
  private readonly budget: number;
  private readonly maxMessageBytes: number;

  constructor(
    private readonly options: WsServerOptions,
    socketOptions: SocketOptions | undefined,
    private readonly counters: WsServerCounters,
    private readonly onClosed: () => void,
  ) {
    this.maxClients = options.maxClients ?? DEFAULT_WS_MAX_CLIENTS;
    this.budget = options.sendBudgetBytes ?? DEFAULT_WS_SEND_BUDGET_BYTES;
    this.maxMessageBytes = socketOptions?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    // The framing adds a prefix (4 bytes per frame) and at most 7 bytes of padding per frame.
    const overhead = 8 + 11 * (DEFAULT_MAX_FRAMES + 2);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxMessageBytes + overhead,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
    });
    this.ownServer = options.server === undefined;
    this.heartbeatMs = socketOptions?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  }

  private readonly heartbeatMs: number;

  /** Starts listening (or serving on the given server), then the heartbeats. */
  async listen(endpoint: Endpoint): Promise<void> {
    await this.bind(endpoint);
    const hb = this.heartbeatMs;
    if (hb > 0) {
      this.heartbeat = setInterval(() => this.beat(hb), hb);
      this.heartbeat.unref();
    }
  }

  private async bind(endpoint: Endpoint): Promise<void> {
    if (!this.ownServer) {
      this.http = this.options.server as HttpServer;
      this.http.on('upgrade', this.onUpgrade);
      const address = this.http.address();
      this.port = address !== null && typeof address === 'object' ? address.port : endpoint.port;
      return;
    }
    const { key, cert } = this.options;
    if (endpoint.scheme === 'wss' && key === undefined) {
      throw new EdgeMLError(
        `cannot listen on ${endpoint.url}: wss:// needs ws: { key, cert } or ws: { server: an https.Server }`,
      );
    }
    const http =
      key !== undefined && cert !== undefined
        ? createHttpsServer({ key: pem(key), cert: pem(cert) })
        : createHttpServer();
    http.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('edgeml: WebSocket only\n');
    });
    http.on('upgrade', this.onUpgrade);
    http.on('clientError', (_e, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      const failed = (e: Error): void => {
        reject(new EdgeMLError(`cannot listen on ${endpoint.url}: ${e.message}`, 'EDGEML_ERROR', { cause: e }));
      };
      http.once('error', failed);
      http.listen(endpoint.port, endpoint.host, () => {
        http.off('error', failed);
        resolve();
      });
    });
    http.on('error', () => undefined);
    this.http = http;
    const address = http.address();
    if (address === null || typeof address !== 'object') throw new EdgeMLError('could not read the bound port');
    this.port = address.port;
  }

  private route(endpoint: Endpoint): Route {
    const path = pathOf(endpoint);
    let r = this.routes.get(path);
    if (!r) {
      r = new Route();
      this.routes.set(path, r);
    }
    return r;
  }

  bindReply(endpoint: Endpoint, onRequest: (peer: PeerId, frames: Frame[]) => void): ReplySocket {
    const route = this.route(endpoint);
    if (route.reply) throw new EdgeMLError(`cannot listen on ${endpoint.url}: a reply socket is bound there`);
    const socket = new WsReplySocket(this, route);
    route.reply = { onRequest, socket };
    return socket;
  }

  bindPublish(endpoint: Endpoint, onSubscribe: ((topic: string) => void) | undefined): PublishSocket {
    const route = this.route(endpoint);
    if (route.publish) throw new EdgeMLError(`cannot listen on ${endpoint.url}: a publish socket is bound there`);
    const socket = new WsPublishSocket(this, route);
    route.publish = { onSubscribe, socket };
    // Peers that subscribed before this socket existed: announce them once the caller holds the socket.
    setImmediate(() => {
      if (route.publish?.socket !== socket) return;
      const topics = new Set<string>();
      for (const p of route.peers.values()) for (const t of p.topics) topics.add(t);
      for (const t of topics) onSubscribe?.(t);
    });
    return socket;
  }

  /** A socket of `route` closed: drop the route when it serves nothing, and the listener when no route is left. */
  async detach(route: Route): Promise<void> {
    if (route.reply || route.publish) return;
    for (const [path, r] of this.routes) if (r === route) this.routes.delete(path);
    for (const p of route.peers.values()) p.ws.terminate();
    route.peers.clear();
    if (this.routes.size > 0) return;
    await this.close();
  }

  private async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.onClosed();
    const http = this.http;
    this.http = undefined;
    if (!http) return;
    http.off('upgrade', this.onUpgrade);
    if (!this.ownServer) return;
    await new Promise<void>((resolve) => {
      http.close(() => resolve());
      http.closeAllConnections();
    });
  }

  private connections = 0;

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      path = '';
    }
    const route = this.routes.get(path);
    if (!route) {
      // Someone else's path on a server given to us: leave it to them.
      if (this.ownServer) rejectUpgrade(socket, 404, 'Not Found');
      this.counters.refused += this.ownServer ? 1 : 0;
      return;
    }
    if (this.connections >= this.maxClients) {
      this.counters.refused++;
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (!offered.includes(WS_SUBPROTOCOL)) {
      this.counters.refused++;
      rejectUpgrade(socket, 400, 'Bad Request');
      return;
    }
    this.connections++;
    let counted = true;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      this.connections--;
    };
    socket.once('close', release);
    void this.admit(req, offered).then(
      (refusal) => {
        if (socket.destroyed || !this.http) {
          release();
          socket.destroy();
          return;
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          ws.once('close', release);
          if (refusal) {
            this.counters.refused++;
            ws.close(refusal.code, refusal.reason);
            // Do not wait for a peer that never answers the close.
            setTimeout(() => ws.terminate(), 1_000).unref();
            return;
          }
          this.accept(route, ws);
        });
      },
      () => {
        release();
        rejectUpgrade(socket, 500, 'Internal Server Error');
      },
    );
  };

  /** Why a peer is refused (origin, token), or undefined when it is let in. */
  private async admit(req: IncomingMessage, offered: string[]): Promise<{ code: number; reason: string } | undefined> {
    const origins = this.options.allowedOrigins;
    const origin = req.headers.origin;
    if (origins !== undefined && origin !== undefined && !origins.includes(origin)) {
      return { code: WS_CLOSE_FORBIDDEN_ORIGIN, reason: `origin ${origin.slice(0, 64)} is not allowed` };
    }
    const { tokens, verifyToken } = this.options;
    if (tokens === undefined && verifyToken === undefined) return undefined;
    let token: string | undefined;
    for (const entry of offered) token ??= subprotocolToken(entry);
    if (token === undefined) return { code: WS_CLOSE_UNAUTHORIZED, reason: 'this server needs a token' };
    let ok = tokens?.includes(token) ?? false;
    if (!ok && verifyToken) {
      try {
        ok = (await verifyToken(token)) === true;
      } catch {
        ok = false;
      }
    }
    return ok ? undefined : { code: WS_CLOSE_UNAUTHORIZED, reason: 'token refused' };
  }

  private accept(route: Route, ws: WebSocket): void {
    if (!this.routes.has(pathOfRoute(this.routes, route))) {
      ws.terminate();
      return;
    }
    const peer = new Peer(ws, this.budget, this.counters);
    route.peers.set(peer.key, peer);
    this.counters.connections++;
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.counters.connections--;
      route.peers.delete(peer.key);
    });
    ws.on('pong', () => {
      peer.lastSeen = Date.now();
    });
    ws.on('message', (data, isBinary) => this.onMessage(route, peer, data, isBinary));
    peer.send(WsKind.ready, []);
  }

  private onMessage(route: Route, peer: Peer, data: unknown, isBinary: boolean): void {
    peer.lastSeen = Date.now();
    let bytes: Uint8Array;
    if (data instanceof Uint8Array) bytes = data;
    else if (Array.isArray(data)) bytes = Buffer.concat(data as Buffer[]);
    else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else return this.malformed(peer, WS_CLOSE_PROTOCOL_ERROR, 'unexpected data');
    if (!isBinary) return this.malformed(peer, WS_CLOSE_PROTOCOL_ERROR, 'text messages are not edgeml messages');
    let msg: ReturnType<typeof decodeWsMessage>;
    try {
      msg = decodeWsMessage(bytes, DEFAULT_MAX_FRAMES + 1);
    } catch (e) {
      return this.malformed(peer, WS_CLOSE_PROTOCOL_ERROR, (e as Error).message);
    }
    let total = 0;
    for (const f of msg.frames) total += f.byteLength;
    if (total > this.maxMessageBytes) return this.malformed(peer, WS_CLOSE_TOO_BIG, 'message over the size limit');
    switch (msg.kind) {
      case WsKind.message:
        route.reply?.onRequest(peer.id, msg.frames);
        return;
      case WsKind.subscribe:
      case WsKind.unsubscribe: {
        let topic: string;
        try {
          topic = frameTopic(msg.frames[0]!);
        } catch (e) {
          return this.malformed(peer, WS_CLOSE_PROTOCOL_ERROR, (e as Error).message);
        }
        if (msg.kind === WsKind.unsubscribe) {
          peer.topics.delete(topic);
          return;
        }
        if (peer.topics.size >= DEFAULT_MAX_FRAMES && !peer.topics.has(topic)) {
          return this.malformed(peer, WS_CLOSE_PROTOCOL_ERROR, 'too many subscriptions');
        }
        peer.topics.add(topic);
        route.publish?.onSubscribe?.(topic);
        return;
      }
      case WsKind.ping:
        peer.send(WsKind.pong, []);
        return;
      case WsKind.pong:
        return;
      default:
        return this.malformed(peer, WS_CLOSE_PROTOCOL_ERROR, `a client does not send messages of kind ${msg.kind}`);
    }
  }

  private malformed(peer: Peer, code: number, reason: string): void {
    this.counters.malformed++;
    peer.ws.close(code, reason.slice(0, 120));
    setTimeout(() => peer.ws.terminate(), 1_000).unref();
  }

  private beat(hb: number): void {
    const now = Date.now();
    for (const route of this.routes.values()) {
      for (const peer of route.peers.values()) {
        const buffered = peer.ws.bufferedAmount;
        // A peer that is reading what we send is alive even when our ping waits behind that data.
        if (buffered < peer.lastBuffered) peer.lastSeen = now;
        peer.lastBuffered = buffered;
        if (now - peer.lastSeen > hb * 3) {
          this.counters.timedOut++;
          peer.ws.terminate();
          continue;
        }
        try {
          peer.ws.ping();
        } catch {
          // Closing.
        }
      }
    }
  }
}

function pathOfRoute(routes: Map<string, Route>, route: Route): string {
  for (const [path, r] of routes) if (r === route) return path;
  return '';
}
