/**
 * The WebSocket transport (`ws://`, `wss://`): request/reply and publish/subscribe over one WebSocket per client and
 * server (docs/protocol.md, "WebSocket mapping"). The server side (Node, npm `ws`) is loaded by a dynamic import on
 * the first bind, so a browser bundle that only connects never includes it. One transport instance serves one server
 * or one client (the registry makes one per scheme for each), and coordinates by URL: a server's reply and publish
 * sockets on the same URL share one listener, a client's request and subscribe sockets one connection.
 *
 * @module
 */
import type { Endpoint, Frame, PeerId } from '../../core/types.js';
import type {
  ClientHandlers,
  PublishSocket,
  ReplySocket,
  RequestSocket,
  SocketOptions,
  SubscribeSocket,
  Transport,
} from '../types.js';
import {
  checkWsClientOptions,
  checkWsServerOptions,
  type WsClientOptions,
  type WsServerOptions,
} from '../ws-options.js';
import { WsConnection } from './client.js';
import type { WsListener, WsServerCounters } from './server.js';

/** Options of a {@link WsTransport}. */
export interface WsTransportOptions {
  /** Options of the sockets it binds (servers). */
  server?: WsServerOptions;
  /** Options of the sockets it connects (clients). */
  client?: WsClientOptions;
}

function key(endpoint: Endpoint, port = endpoint.port): string {
  return `${endpoint.scheme}://${endpoint.host}:${port}`;
}

/** See the module comment. */
export class WsTransport implements Transport {
  private readonly server: WsServerOptions;
  private readonly client: WsClientOptions;
  private readonly listeners = new Map<string, Promise<WsListener>>();
  private unshared = 0;
  private readonly connections = new Map<string, WsConnection[]>();
  private readonly counters: WsServerCounters = {
    connections: 0,
    refused: 0,
    malformed: 0,
    dropped: 0,
    paused: 0,
    timedOut: 0,
  };

  /** @throws {@link InvalidArgumentError} naming a bad option */
  constructor(options: WsTransportOptions = {}) {
    this.server = checkWsServerOptions(options.server);
    this.client = checkWsClientOptions(options.client);
  }

  /** Counters of the servers bound by this transport. */
  stats(): WsServerCounters {
    return { ...this.counters };
  }

  /** The listener of the endpoint's host and port: the one already bound there (port 0 included), or a new one. */
  private listener(endpoint: Endpoint, options: SocketOptions | undefined): Promise<WsListener> {
    // Port 0 of a ws:// URL names one listener (a server's reply and publish sockets share it). URLs of other schemes
    // (this transport injected for them) keep their own ports, as their transports would.
    const shared = endpoint.scheme === 'ws' || endpoint.scheme === 'wss' || endpoint.port !== 0;
    const k = shared ? key(endpoint) : `${key(endpoint)}#${++this.unshared}`;
    const existing = this.listeners.get(k);
    if (existing) return existing;
    const made: Promise<WsListener> = (async () => {
      const { WsListener } = await import('./server.js');
      const listener: WsListener = new WsListener(this.server, options, this.counters, () => this.forget(k));
      await listener.listen(endpoint);
      // Also under its real port, for binds that name it.
      const self = this.listeners.get(k);
      if (endpoint.port === 0 && self) this.listeners.set(key(endpoint, listener.port), self);
      return listener;
    })();
    this.listeners.set(k, made);
    made.catch(() => this.forget(k));
    return made;
  }

  /** Forgets the listener made for `k` (under every name it has). */
  private forget(k: string): void {
    const made = this.listeners.get(k);
    for (const [name, l] of this.listeners) if (l === made) this.listeners.delete(name);
  }

  async bindReply(
    endpoint: Endpoint,
    onRequest: (peer: PeerId, frames: Frame[]) => void,
    options?: SocketOptions,
  ): Promise<ReplySocket> {
    return (await this.listener(endpoint, options)).bindReply(endpoint, onRequest);
  }

  async bindPublish(
    endpoint: Endpoint,
    onSubscribe?: (topic: string) => void,
    options?: SocketOptions,
  ): Promise<PublishSocket> {
    return (await this.listener(endpoint, options)).bindPublish(endpoint, onSubscribe);
  }

  /**
   * A connection to the endpoint: one that has no request socket yet when `forRequest` (each request socket is its
   * own peer to the server, so clients sharing a transport stay apart), else the newest one.
   */
  private connection(endpoint: Endpoint, options: SocketOptions | undefined, forRequest: boolean): WsConnection {
    const k = `${key(endpoint)}${endpoint.path}`;
    const list = this.connections.get(k) ?? [];
    this.connections.set(k, list);
    const found = forRequest ? list.find((c) => !c.hasRequester) : list.at(-1);
    if (found) return found;
    const made: WsConnection = new WsConnection(endpoint, this.client, options, () => {
      const i = list.indexOf(made);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0 && this.connections.get(k) === list) this.connections.delete(k);
    });
    list.push(made);
    return made;
  }

  connectRequest(
    endpoint: Endpoint,
    onReply: (frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): RequestSocket {
    return this.connection(endpoint, options, true).connectRequest(onReply, options);
  }

  connectSubscribe(
    endpoint: Endpoint,
    topics: readonly string[],
    onMessage: (topic: string, frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): SubscribeSocket {
    return this.connection(endpoint, options, false).connectSubscribe(topics, onMessage, options);
  }
}
