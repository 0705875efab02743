/**
 * The ZeroMQ transport (npm `zeromq` v6): ROUTER/DEALER for request/reply, XPUB/SUB for publish/subscribe.
 *
 * zeromq.js allows one pending `send` per socket, so every socket here owns one {@link SendQueue}. Client sockets use
 * `immediate` (nothing is queued inside libzmq for a server that is not connected) and send timeout 0, so a message
 * waiting for a server stays in our queue, retried with backoff, where its staleness is checked: a call that timed out
 * is never sent late to a server that comes back. (Send timeout 0, not a short timeout: in zeromq.js 6.8 a send whose
 * timeout expires can swallow the socket's readable edge, and a `receive` already waiting then never wakes up, so
 * the reply to a call made while the server was starting was lost.) Publishing sockets use {@link PublishFlow}.
 * Sockets are closed without unbinding (unbinding a ROUTER just after a peer disconnects can abort the process in
 * libzmq 4.3.5), and binds retry while a just-closed port is still held.
 *
 * Security: a transport created with `server` security makes every socket it binds a CURVE server (with a ZAP domain
 * restricting clients when `allowedClients` is given); one created with `client` security makes every socket it
 * connects a CURVE client. A client socket watches its handshakes and reports a refusal as status `'unauthorized'`
 * with an {@link AuthenticationError}; libzmq gives up on a connection after such a refusal, so the socket retries
 * by itself, with backoff, in case the keys are fixed on the other side. See docs/security.md.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import * as zmq from 'zeromq';
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PUBLISH_HWM,
  DEFAULT_PUBLISH_QUEUE_BYTES,
  DEFAULT_RECONNECT_MAX_MS,
  DEFAULT_RECONNECT_MS,
  DEFAULT_REPLY_HWM,
} from '../../core/defaults.js';
import { EdgeMLError } from '../../core/errors.js';
import type { Frame } from '../../wire/codec.js';
import {
  type ClientSecurity,
  type ResolvedClientSecurity,
  type ResolvedServerSecurity,
  resolveClientSecurity,
  resolveServerSecurity,
  type ServerSecurity,
} from '../curve-keys.js';
import type {
  Address,
  ClientHandlers,
  ConnectionStatus,
  PeerId,
  PublishSocket,
  ReplySocket,
  ReplySocketOptions,
  RequestSocket,
  SocketOptions,
  SubscribeSocket,
  Transport,
} from '../types.js';
import { ClientLink } from './client-link.js';
import { edgemlContext } from './context.js';
import { Backoff, DropWhenFull, PublishFlow, SendQueue } from './send-queue.js';
import { zapHandler } from './zap-handler.js';

/** How long a bind keeps retrying while the port is still held by a socket that was just closed. */
const BIND_RETRY_MS = 3_000;
/** Longest wait between two tries of a client send that found no server (the wait starts at 1 ms and doubles). */
const CLIENT_SEND_RETRY_MAX_MS = 20;
function tcp(address: Address): string {
  const host = address.host.includes(':') && !address.host.startsWith('[') ? `[${address.host}]` : address.host;
  return `tcp://${host}:${address.port === 0 ? '*' : address.port}`;
}

function boundPort(socket: zmq.Socket): number {
  const endpoint = socket.lastEndpoint ?? '';
  const port = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0) throw new EdgeMLError(`could not read the bound port from ${endpoint}`);
  return port;
}

async function bindWithRetry(socket: zmq.Socket, address: Address): Promise<number> {
  const endpoint = tcp(address);
  const deadline = Date.now() + BIND_RETRY_MS;
  for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
    try {
      await socket.bind(endpoint);
      return boundPort(socket);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'EADDRINUSE' && Date.now() + wait < deadline) {
        await delay(wait);
        continue;
      }
      socket.close();
      throw new EdgeMLError(`cannot listen on ${endpoint}: ${(e as Error).message}`, 'EDGEML_ERROR', { cause: e });
    }
  }
}

function commonOptions(options: SocketOptions | undefined): {
  linger: number;
  maxMessageSize: number;
  heartbeatInterval: number;
  heartbeatTimeout: number;
} {
  const hb = options?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  return {
    linger: 0,
    maxMessageSize: options?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    heartbeatInterval: hb,
    heartbeatTimeout: hb * 3,
  };
}

/**
 * Starts receiving from a socket just bound, once the caller holds the wrapper it returns: zeromq.js resolves a
 * `receive` at once when a message is already there (a client that waited for the server, a subscriber that waited
 * for the publisher), and that message must not reach a handler that cannot answer it yet.
 */
function receiveAfterBind(socket: zmq.Readable & zmq.Socket, onMessage: (msg: Buffer[]) => void): void {
  setImmediate(() => void receiveLoop(socket, onMessage));
}

/** Receives from `socket` until it closes, handing each message to `onMessage`; never throws. */
async function receiveLoop(socket: zmq.Readable & zmq.Socket, onMessage: (msg: Buffer[]) => void): Promise<void> {
  while (!socket.closed) {
    let msg: Buffer[];
    try {
      msg = await socket.receive();
    } catch {
      // Closed (or terminated) while waiting: the loop ends.
      return;
    }
    try {
      onMessage(msg);
    } catch {
      // Handlers guard themselves; a throw here must not end the loop.
    }
  }
}

class ZmqReplySocket implements ReplySocket {
  private readonly queue: SendQueue;
  constructor(
    private readonly socket: zmq.Router,
    readonly port: number,
    private readonly release: () => void,
    onPeerBlocked: ((peer: PeerId) => void) | undefined,
  ) {
    this.queue = new SendQueue(
      socket,
      new DropWhenFull((frames) => {
        const peer = frames[0];
        if (peer !== undefined) onPeerBlocked?.(peer);
      }),
    );
  }
  send(peer: PeerId, frames: Frame[]): void {
    this.queue.push([peer, ...frames]);
  }
  async close(): Promise<void> {
    this.queue.close();
    this.socket.close();
    this.release();
  }
}

class ZmqRequestSocket extends ClientLink implements RequestSocket {
  private readonly queue: SendQueue;
  constructor(
    private readonly dealer: zmq.Dealer,
    endpoint: string,
    security: ResolvedClientSecurity | undefined,
    onStatus: ((s: ConnectionStatus) => void) | undefined,
  ) {
    super(dealer, endpoint, security, onStatus);
    this.queue = new SendQueue(dealer, new Backoff(CLIENT_SEND_RETRY_MAX_MS));
  }
  send(frames: Frame[], isStale?: () => boolean): void {
    this.queue.push(frames, isStale);
  }
  override close(): void {
    if (this.status === 'closed') return;
    this.queue.close();
    this.dealer.close();
    super.close();
  }
}

class ZmqPublishSocket implements PublishSocket {
  private readonly queue: SendQueue;
  constructor(
    private readonly socket: zmq.XPublisher,
    readonly port: number,
    private readonly release: () => void,
  ) {
    this.queue = new SendQueue(socket, new PublishFlow(socket), DEFAULT_PUBLISH_QUEUE_BYTES);
  }
  publish(topic: string, frames: Frame[]): void {
    this.queue.push([Buffer.from(topic, 'utf8'), ...frames]);
  }
  async close(): Promise<void> {
    this.queue.close();
    this.socket.close();
    this.release();
  }
}

class ZmqSubscribeSocket extends ClientLink implements SubscribeSocket {
  constructor(
    private readonly subscriber: zmq.Subscriber,
    endpoint: string,
    security: ResolvedClientSecurity | undefined,
    onStatus: ((s: ConnectionStatus) => void) | undefined,
  ) {
    super(subscriber, endpoint, security, onStatus);
  }
  override close(): void {
    if (this.status === 'closed') return;
    this.subscriber.close();
    super.close();
  }
}

/** Options of a {@link ZmqTransport}. Without any, connections are plain TCP (no authentication, no encryption). */
export interface ZmqTransportOptions {
  /** Makes every socket this transport binds a CURVE server (servers: `InferenceServer`, `ActionServer`, ...). */
  server?: ServerSecurity;
  /** Makes every socket this transport connects a CURVE client of a server with that public key. */
  client?: ClientSecurity;
}

/**
 * The ZeroMQ transport over TCP. The default transport of every edgeml server and client.
 *
 * @example
 * ```ts
 * const serverSide = new ZmqTransport({ server: { keyPair: 'server.key_secret', allowedClients: ['robot1.key'] } });
 * const clientSide = new ZmqTransport({ client: { serverPublicKey: 'server.key', keyPair: 'robot1.key_secret' } });
 * ```
 */
export class ZmqTransport implements Transport {
  private readonly server: ResolvedServerSecurity | undefined;
  private readonly client: ResolvedClientSecurity | undefined;

  /**
   * Resolves the keys at once (key files are read synchronously).
   * @throws {@link InvalidArgumentError} naming the field of a missing, unreadable or invalid key
   */
  constructor(options: ZmqTransportOptions = {}) {
    this.server = options.server === undefined ? undefined : resolveServerSecurity(options.server, 'server');
    this.client = options.client === undefined ? undefined : resolveClientSecurity(options.client, 'client');
  }

  /** The public key the client sockets of this transport present (give it to the server's `allowedClients`). */
  get clientPublicKey(): string | undefined {
    return this.client?.keyPair.publicKey;
  }

  /** Socket options of a bound socket, and the function that releases its ZAP domain once the socket is closed. */
  private async serverOptions(): Promise<{ options: Partial<zmq.Router>; release: () => void }> {
    const sec = this.server;
    if (!sec) return { options: {}, release: () => undefined };
    const options = { curveServer: true, curveSecretKey: sec.keyPair.secretKey };
    if (sec.allowedClients === undefined) return { options, release: () => undefined };
    const domain = await zapHandler.register(sec.allowedClients);
    return {
      options: { ...options, zapDomain: domain, zapEnforceDomain: true },
      release: () => zapHandler.unregister(domain),
    };
  }

  private clientOptions(): Partial<zmq.Dealer> {
    const sec = this.client;
    if (!sec) return {};
    return {
      curveServerKey: sec.serverPublicKey,
      curvePublicKey: sec.keyPair.publicKey,
      curveSecretKey: sec.keyPair.secretKey,
    };
  }

  async bindReply(
    address: Address,
    onRequest: (peer: PeerId, frames: Frame[]) => void,
    options?: ReplySocketOptions,
  ): Promise<ReplySocket> {
    const security = await this.serverOptions();
    let socket: zmq.Router;
    let port: number;
    try {
      socket = new zmq.Router({
        context: edgemlContext(),
        ...commonOptions(options),
        ...security.options,
        // Replies queue per peer up to DEFAULT_REPLY_HWM; a reply to a peer whose queue is full (it does not read)
        // fails at once (mandatory, send timeout 0) and is dropped, so a slow reader costs a bounded amount.
        sendHighWaterMark: DEFAULT_REPLY_HWM,
        receiveHighWaterMark: DEFAULT_REPLY_HWM,
        mandatory: true,
        sendTimeout: 0,
      });
      port = await bindWithRetry(socket, address);
    } catch (e) {
      security.release();
      throw e;
    }
    receiveAfterBind(socket, (msg) => {
      const [peer, ...frames] = msg;
      if (peer !== undefined) onRequest(peer, frames);
    });
    return new ZmqReplySocket(socket, port, security.release, options?.onPeerBlocked);
  }

  connectRequest(
    address: Address,
    onReply: (frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): RequestSocket {
    const socket = new zmq.Dealer({
      context: edgemlContext(),
      ...commonOptions(options),
      ...this.clientOptions(),
      immediate: true,
      sendTimeout: 0,
      reconnectInterval: DEFAULT_RECONNECT_MS,
      reconnectMaxInterval: DEFAULT_RECONNECT_MAX_MS,
      sendHighWaterMark: 10_000,
      receiveHighWaterMark: 10_000,
    });
    const endpoint = tcp(address);
    const wrapped = new ZmqRequestSocket(socket, endpoint, this.client, options?.onStatus);
    socket.connect(endpoint);
    void receiveLoop(socket, onReply);
    return wrapped;
  }

  async bindPublish(
    address: Address,
    onSubscribe?: (topic: string) => void,
    options?: SocketOptions,
  ): Promise<PublishSocket> {
    const security = await this.serverOptions();
    let socket: zmq.XPublisher;
    let port: number;
    try {
      socket = new zmq.XPublisher({
        context: edgemlContext(),
        ...commonOptions(options),
        ...security.options,
        sendHighWaterMark: DEFAULT_PUBLISH_HWM,
        noDrop: true,
        // Fail at once when a subscriber is full ({@link PublishFlow} waits with backoff); with the default (no
        // timeout) zeromq.js would wait for a writable event that a full XPUB never signals.
        sendTimeout: 0,
      });
      socket.verbosity = 'allSubs';
      port = await bindWithRetry(socket, address);
    } catch (e) {
      security.release();
      throw e;
    }
    receiveAfterBind(socket, (msg) => {
      const sub = msg[0];
      if (sub !== undefined && sub.length >= 1 && sub[0] === 1) onSubscribe?.(sub.subarray(1).toString('utf8'));
    });
    return new ZmqPublishSocket(socket, port, security.release);
  }

  connectSubscribe(
    address: Address,
    topics: readonly string[],
    onMessage: (topic: string, frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): SubscribeSocket {
    const socket = new zmq.Subscriber({
      context: edgemlContext(),
      ...commonOptions(options),
      ...this.clientOptions(),
      reconnectInterval: DEFAULT_RECONNECT_MS,
      reconnectMaxInterval: DEFAULT_RECONNECT_MAX_MS,
    });
    for (const t of topics) socket.subscribe(t);
    const endpoint = tcp(address);
    const wrapped = new ZmqSubscribeSocket(socket, endpoint, this.client, options?.onStatus);
    socket.connect(endpoint);
    void receiveLoop(socket, (msg) => {
      const [topic, ...frames] = msg;
      if (topic !== undefined) onMessage(topic.toString('utf8'), frames);
    });
    return wrapped;
  }
}
