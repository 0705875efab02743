/**
 * Action mode: the edge device (robot, camera rig, simulator) runs an {@link ActionServer} that serves observations
 * and takes actions; any number of {@link ActionClient}s (typically a GPU machine running a policy) ask it for
 * observations, send it actions, and can subscribe to the observation stream the server publishes.
 *
 * The mode composes the rpc, broadcast and handshake layers and holds no socket code. Wire methods: docs/action.md.
 *
 * @module
 */

import { DEFAULT_BIND_HOST, DEFAULT_CONNECT_TIMEOUT_MS } from '../../core/defaults.js';
import { type AuthenticationError, ClosedError, EdgeMLError, InvalidArgumentError } from '../../core/errors.js';
import {
  type Delivery,
  emptySubscriberStats,
  Publisher,
  type PublisherStats,
  Subscriber,
  type SubscriberStats,
} from '../../messaging/broadcast.js';
import { handshake, serveHandshake } from '../../messaging/handshake.js';
import {
  publisherOptions,
  rpcClientOptions,
  rpcServerOptions,
  subscriberOptions,
} from '../../messaging/mode-options.js';
import { type CallOptions, RpcClient } from '../../messaging/rpc-client.js';
import { RpcServer, type RpcServerStats } from '../../messaging/rpc-server.js';
import type { ConnectionStatus, Transport } from '../../transport/types.js';
import { transportFor } from '../../transport/zmq/zmq-transport.js';
import { refuseDuplicateNames } from '../../wire/unique.js';
import {
  ACTION_MODE,
  type ActionClientOptions,
  ActionConfig,
  type ActionConfigInit,
  type ActionConnectOptions,
  type ActionServerOptions,
  M_ACT,
  M_ACTION_PING,
  M_OBS,
  OBS_TOPIC,
  type ObsStreamOptions,
} from './config.js';

/** Gets the requested observation keys; returns (or resolves to) an object keyed by observation key. */
export type ObsCallback = (keys: string[]) => unknown;
/** Runs action `key` with the client's payload; its return value (or resolution) goes back to the client. */
export type ActCallback = (key: string, payload: unknown) => unknown;

/** Counters of an {@link ActionServer}: the request side, and the stream when the config has a `broadcastPort`. */
export interface ActionServerStats extends RpcServerStats {
  /** Publisher counters; `undefined` without a `broadcastPort`. */
  stream: PublisherStats | undefined;
}

function checkFunction(field: string, fn: unknown): void {
  if (typeof fn !== 'function') throw new InvalidArgumentError(field, 'must be a function');
}

/**
 * Serves observations and actions to any number of {@link ActionClient}s, and streams observations to subscribers
 * when the config has a `broadcastPort`. A callback that throws rejects that client's call with a `RemoteError`; the
 * server goes on. Requests naming unknown keys are answered with a `NotFoundError` without calling the callbacks.
 *
 * @example
 * ```ts
 * const config = new ActionConfig({ portNumber: 5555, broadcastPort: 5556, actionKeys: ['move'], observationKeys: ['cam1'] });
 * const server = new ActionServer(config, (keys) => ({ cam1: camera.latest() }), (key, payload) => robot.move(payload));
 * await server.start();
 * server.publishObs({ cam1: frame }); // to every subscribed client
 * ```
 */
export class ActionServer {
  private readonly rpc: RpcServer;
  private readonly publisher: Publisher | undefined;
  private readonly host: string;
  private readonly requested: ActionConfig;
  private effective: ActionConfig;
  private running = false;

  constructor(
    config: ActionConfigInit | ActionConfig,
    private readonly obsCallback: ObsCallback,
    private readonly actCallback: ActCallback,
    options: ActionServerOptions = {},
  ) {
    this.requested = ActionConfig.from(config);
    this.effective = this.requested;
    checkFunction('obsCallback', obsCallback);
    checkFunction('actCallback', actCallback);
    this.host = options.host ?? DEFAULT_BIND_HOST;
    const transport = transportFor('server', options);
    this.rpc = new RpcServer(transport, rpcServerOptions(options));
    if (this.requested.streaming) this.publisher = new Publisher(transport, publisherOptions(options));
    this.rpc.handle(M_OBS, (payload) => {
      const keys = (payload as { keys?: unknown } | null | undefined)?.keys;
      refuseDuplicateNames(keys, 'observation keys');
      return this.obsCallback(this.effective.selectObservations(keys));
    });
    this.rpc.handle(M_ACT, (payload, ctx) => {
      const key = ctx.name;
      this.effective.checkAction(key);
      return this.actCallback(key, payload);
    });
    this.rpc.handle(M_ACTION_PING, () => 'pong');
  }

  /**
   * Binds the stream port (when configured), then the request port. Resolves once both are bound; with port 0 the
   * bound ports are then readable from {@link port}, {@link broadcastPort} and {@link config}.
   * @throws {@link EdgeMLError} when already running or a port cannot be bound.
   */
  async start(): Promise<void> {
    if (this.running) throw new EdgeMLError('action server already started');
    this.running = true;
    try {
      let broadcastPort = this.requested.broadcastPort;
      if (this.publisher && broadcastPort !== undefined) {
        broadcastPort = await this.publisher.start({ host: this.host, port: broadcastPort });
      }
      // The handshake advertises the bound broadcast port, so it is registered once that port is known.
      const withStream = this.requested.with({ broadcastPort });
      serveHandshake(this.rpc, ACTION_MODE, withStream.canonical());
      const port = await this.rpc.start({ host: this.host, port: this.requested.portNumber });
      this.effective = withStream.with({ portNumber: port });
    } catch (e) {
      await this.publisher?.stop();
      this.running = false;
      throw e;
    }
  }

  /** Stops serving and releases both ports. Safe to call more than once; {@link start} may be called again. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.all([this.rpc.stop(), this.publisher?.stop()]);
  }

  /** The config in effect: after {@link start}, with the ports actually bound. Give it to clients in tests. */
  get config(): ActionConfig {
    return this.effective;
  }

  /** The request port (the bound one once started). */
  get port(): number {
    return this.effective.portNumber;
  }

  /** The stream port (the bound one once started), or `undefined` without streaming. */
  get broadcastPort(): number | undefined {
    return this.effective.broadcastPort;
  }

  /**
   * Sends `payload` to every client that registered an observation callback, and keeps it as the latest value that
   * a client registering later gets at once. Tensors and typed arrays are sent without a copy: do not modify their
   * data after publishing. Clients that fall behind skip to newer observations (see docs/action.md).
   * @returns `true` when published, `false` (and nothing else happens) when the config has no `broadcastPort`.
   * @throws {@link ClosedError} when the server is not started, {@link InvalidArgumentError} when the payload cannot
   * be encoded.
   */
  publishObs(payload: unknown): boolean {
    if (!this.publisher) return false;
    if (!this.running) throw new ClosedError('action server is not started');
    this.publisher.publish(OBS_TOPIC, payload);
    return true;
  }

  /** Counters: clients, requests, errors, bytes, latency per method, and the stream's counters. */
  stats(): ActionServerStats {
    return { ...this.rpc.stats(), stream: this.publisher?.stats() };
  }
}

/** A streamed observation as the callback's second argument sees it. */
export type ObsDelivery<T = unknown> = Delivery<T>;

/**
 * Asks an {@link ActionServer} for observations, sends it actions, and receives its observation stream.
 *
 * Every call first completes the config handshake: {@link ActionClient.connect} does it up front; a client built with
 * `new ActionClient(host, config)` does it on first use (and again on the next use if it failed). Keys the config
 * does not list are rejected with a `NotFoundError` before anything is sent.
 *
 * @example
 * ```ts
 * const client = await ActionClient.connect('robot.local', config, { timeoutMs: 2000 });
 * const { cam1 } = await client.obs(['cam1']);
 * await client.act('move', { dx: 0.1 });
 * client.registerObsCallback((obs) => show(obs.cam1));
 * client.stop();
 * ```
 */
export class ActionClient {
  /** The client's config. */
  readonly config: ActionConfig;
  private readonly rpc: RpcClient;
  private readonly transport: Transport;
  private ready: Promise<void> | undefined;
  private subscriber: Subscriber | undefined;
  private obsCallback: ((payload: unknown, delivery: ObsDelivery) => unknown) | undefined;
  private closed = false;

  /**
   * Creates a client that connects in the background and performs the handshake on first use.
   * @throws {@link InvalidArgumentError} for a bad host or config (a client needs a real `portNumber`, not 0).
   */
  constructor(
    readonly host: string,
    config: ActionConfigInit | ActionConfig,
    private readonly options: ActionClientOptions = {},
  ) {
    if (typeof host !== 'string' || host.length === 0) throw new InvalidArgumentError('host', 'must be a host name');
    this.config = ActionConfig.from(config);
    if (this.config.portNumber === 0) throw new InvalidArgumentError('portNumber', "a client needs the server's port");
    if (this.config.broadcastPort === 0) {
      throw new InvalidArgumentError('broadcastPort', "a client needs the server's stream port");
    }
    this.transport = transportFor('client', options);
    this.rpc = new RpcClient(
      this.transport,
      { host, port: this.config.portNumber },
      rpcClientOptions(options, options.timeoutMs),
    );
  }

  /**
   * Connects and performs the handshake. `timeoutMs` is the handshake's deadline; `callTimeoutMs` the default
   * deadline of later calls.
   * @throws {@link ConfigMismatchError} whose `fields` name the fields that differ from the server's config,
   * {@link TimeoutError} when no server answers within `timeoutMs`.
   */
  static async connect(
    host: string,
    config: ActionConfigInit | ActionConfig,
    options: ActionConnectOptions = {},
  ): Promise<ActionClient> {
    const { timeoutMs, callTimeoutMs, ...rest } = options;
    const client = new ActionClient(host, config, {
      ...rest,
      ...(timeoutMs !== undefined ? { connectTimeoutMs: timeoutMs } : {}),
      ...(callTimeoutMs !== undefined ? { timeoutMs: callTimeoutMs } : {}),
    });
    try {
      await client.handshake();
    } catch (e) {
      client.stop();
      throw e;
    }
    return client;
  }

  private handshake(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('action client is stopped'));
    if (!this.ready) {
      const timeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      this.ready = handshake(this.rpc, ACTION_MODE, this.config.canonical(), { timeoutMs });
      // A failed handshake is tried again on the next call.
      this.ready.catch(() => {
        this.ready = undefined;
      });
    }
    return this.ready;
  }

  /**
   * Asks the server for observations: the keys given, or every observation key of the config.
   * @returns what the server's observation callback returned (normally an object keyed by observation key).
   * @throws {@link NotFoundError} for a key not in `observationKeys` (nothing is sent), {@link RemoteError} when the
   * server's callback threw, {@link TimeoutError} at the deadline.
   */
  async obs<T = Record<string, unknown>>(keys?: readonly string[], options?: CallOptions): Promise<T> {
    const selected = this.config.selectObservations(keys);
    await this.handshake();
    return (await this.rpc.call(M_OBS, undefined, { keys: selected }, options)) as T;
  }

  /**
   * Sends action `key` with `payload`; resolves with what the server's action callback returned.
   * @throws {@link NotFoundError} for a key not in `actionKeys` (nothing is sent), {@link RemoteError} when the
   * server's callback threw, {@link TimeoutError} at the deadline.
   */
  async act<T = unknown>(key: string, payload?: unknown, options?: CallOptions): Promise<T> {
    this.config.checkAction(key);
    await this.handshake();
    return (await this.rpc.call(M_ACT, key, payload, options)) as T;
  }

  /** The seed's spelling of {@link obs}. */
  getObservation<T = Record<string, unknown>>(keys?: readonly string[], options?: CallOptions): Promise<T> {
    return this.obs<T>(keys, options);
  }

  /**
   * The seed's spelling of {@link act}: `sendAction(payload)` sends to the config's only action key;
   * `sendAction(key, payload)` names the key (required when the config has several).
   * @throws {@link InvalidArgumentError} for `sendAction(payload)` when the config has several action keys.
   */
  sendAction<T = unknown>(...args: [payload: unknown] | [key: string, payload: unknown]): Promise<T> {
    if (args.length === 2) return this.act<T>(args[0], args[1]);
    const [only, ...more] = this.config.actionKeys;
    if (only === undefined || more.length > 0) {
      return Promise.reject(
        new InvalidArgumentError('key', `the config has ${this.config.actionKeys.length} action keys: pass one`),
      );
    }
    return this.act<T>(only, args[0]);
  }

  /**
   * Calls `cb` with every observation the server publishes, starting with the latest one it published before this
   * registration. A slow callback gets the newest observations: at most `queueSize` wait, older ones are dropped and
   * counted in {@link streamStats}. Registering again replaces the callback.
   * @throws {@link InvalidArgumentError} when the config has no `broadcastPort`.
   */
  registerObsCallback<T = Record<string, unknown>>(
    cb: (payload: T, delivery: ObsDelivery<T>) => unknown,
    options: ObsStreamOptions = {},
  ): void {
    if (this.closed) throw new ClosedError('action client is stopped');
    const port = this.config.broadcastPort;
    if (port === undefined)
      throw new InvalidArgumentError('broadcastPort', 'the config has no broadcastPort to stream');
    checkFunction('cb', cb);
    this.obsCallback = cb as (payload: unknown, delivery: ObsDelivery) => unknown;
    if (this.subscriber) return;
    this.subscriber = new Subscriber(
      this.transport,
      { host: this.host, port },
      [OBS_TOPIC],
      (d) => this.obsCallback?.(d.payload, d) as void | Promise<void>,
      {
        ...(options.queueSize !== undefined ? { queueSize: options.queueSize } : {}),
        ...(options.onError ? { onError: options.onError } : {}),
        ...subscriberOptions(this.options),
      },
    );
  }

  /** The latest streamed observation received (delivered to the callback or not), if any. */
  latestObs<T = Record<string, unknown>>(): ObsDelivery<T> | undefined {
    return this.subscriber?.latest(OBS_TOPIC) as ObsDelivery<T> | undefined;
  }

  /** Stream counters: received, delivered, dropped (queue overflow and publisher-side gaps), errors. */
  streamStats(): SubscriberStats {
    return this.subscriber?.stats() ?? emptySubscriberStats();
  }

  /** Round trip to the server (after the handshake); resolves with the time it took in ms. */
  async ping(options?: CallOptions): Promise<number> {
    await this.handshake();
    const t = performance.now();
    await this.rpc.call(M_ACTION_PING, undefined, null, options);
    return performance.now() - t;
  }

  /** Connection status of the request side. */
  get status(): ConnectionStatus {
    return this.rpc.status;
  }

  /**
   * Connection status changes of the request connection from now on, as an async iterator that ends when the client
   * is closed or `signal` aborts: `for await (const status of client.statusEvents()) console.log(status)`.
   */
  statusEvents(signal?: AbortSignal): AsyncGenerator<ConnectionStatus, void, undefined> {
    return this.rpc.statusEvents(signal);
  }

  /**
   * Connection status of the observation stream (`undefined` before {@link registerObsCallback}). `'unauthorized'`:
   * the server refused this client's security and no observation arrives; {@link streamAuthFailure} says why.
   */
  get streamStatus(): ConnectionStatus | undefined {
    return this.subscriber?.status;
  }

  /** Why the server refused the stream connection, while {@link streamStatus} is `'unauthorized'`. */
  get streamAuthFailure(): AuthenticationError | undefined {
    return this.subscriber?.authFailure;
  }

  /** Closes the client and its stream; waiting calls reject with a {@link ClosedError}. Safe to call twice. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscriber?.close();
    this.rpc.close();
  }

  /** Same as {@link stop}. */
  close(): void {
    this.stop();
  }
}
