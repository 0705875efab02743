/**
 * Action mode, client side: asks an action server for observations, sends it actions, and receives its observation
 * stream.
 *
 * @module
 */

import { DEFAULT_CONNECT_TIMEOUT_MS } from '../../core/defaults.js';
import { type AuthenticationError, ClosedError, InvalidArgumentError } from '../../core/errors.js';
import type { ConnectionStatus } from '../../core/types.js';
import { decodeImagesIn, imageDecodeOptions } from '../../image/payload.js';
import {
  type Delivery,
  emptySubscriberStats,
  latestFetcher,
  Subscriber,
  type SubscriberStats,
} from '../../messaging/broadcast.js';
import { connected, LazyHandshake } from '../../messaging/handshake.js';
import { ClientEndpoint, rpcClientOptions, subscriberOptions } from '../../messaging/mode-options.js';
import { type CallOptions, RpcClient } from '../../messaging/rpc-client.js';
import { M_PING } from '../../messaging/rpc-server.js';
import type { ImageDecodeOptions } from '../../tensor/image.js';
import {
  ACTION_MODE,
  type ActionClientOptions,
  ActionConfig,
  type ActionConfigInit,
  M_ACT,
  M_OBS,
  OBS_TOPIC,
  type ObsStreamOptions,
} from './config.js';
import type { KeyedPayloads } from './server.js';

/** A streamed observation as the callback's second argument sees it. */
export type ObsDelivery<T = unknown> = Delivery<T>;

type ObsListener = (payload: unknown, delivery: ObsDelivery) => unknown;

/**
 * Asks an `ActionServer` for observations, sends it actions, and receives its observation stream.
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
 * const unsubscribe = client.onObs((obs) => show(obs.cam1));
 * await client.close();
 * ```
 */
export class ActionClient<Obs extends KeyedPayloads = KeyedPayloads, Acts extends KeyedPayloads = KeyedPayloads> {
  /** The client's config. */
  readonly config: ActionConfig;
  private readonly rpc: RpcClient;
  private readonly hello: LazyHandshake;
  private readonly where: ClientEndpoint;
  private subscriber: Subscriber | undefined;
  private readonly listeners = new Set<{ cb: ObsListener; onError: ((e: unknown) => void) | undefined }>();
  private closed = false;

  /**
   * Creates a client that connects in the background and performs the handshake on first use (the seed's shape).
   * @param target a host name (the config's ports are used) or an endpoint URL
   * @throws {@link InvalidArgumentError} for a bad host or config (a client needs a real `portNumber`, not 0).
   */
  constructor(
    target: string,
    config: ActionConfigInit | ActionConfig,
    private readonly options: ActionClientOptions = {},
  ) {
    this.config = ActionConfig.from(config);
    if (this.config.portNumber === 0) {
      throw new InvalidArgumentError('portNumber', "a client needs the server's actual port");
    }
    this.where = new ClientEndpoint(target, this.config.portNumber, options);
    if (this.config.broadcastPort === 0 && !this.where.sharedStream) {
      throw new InvalidArgumentError('broadcastPort', "a client needs the server's stream port");
    }
    this.rpc = new RpcClient(this.where.transport, this.where.endpoint, rpcClientOptions(options));
    const own = this.config;
    this.hello = new LazyHandshake(
      this.rpc,
      ACTION_MODE,
      () => own.canonical(),
      options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    );
  }

  /**
   * Connects and performs the handshake (within `connectTimeoutMs`).
   * @throws {@link ConfigMismatchError} whose `fields` name the fields that differ from the server's config,
   * {@link TimeoutError} when no server answers in time.
   */
  static async connect<O extends KeyedPayloads = KeyedPayloads, A extends KeyedPayloads = KeyedPayloads>(
    target: string,
    config: ActionConfigInit | ActionConfig,
    options: ActionClientOptions = {},
  ): Promise<ActionClient<O, A>> {
    return connected(new ActionClient<O, A>(target, config, options), (c) => c.handshake());
  }

  private handshake(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('action client is closed'));
    return this.hello.done();
  }

  /**
   * Asks the server for observations: the keys given, or every observation key of the config.
   * @returns what the server's observation callback returned (normally an object keyed by observation key).
   * @throws {@link NotFoundError} for a key not in `observationKeys` (nothing is sent), {@link RemoteError} when the
   * server's callback threw, {@link TimeoutError} at the deadline.
   */
  async obs<K extends keyof Obs & string = keyof Obs & string>(
    keys?: readonly K[],
    options?: CallOptions,
  ): Promise<Pick<Obs, K>> {
    const selected = this.config.selectObservations(keys);
    await this.handshake();
    const reply = await this.rpc.call(M_OBS, undefined, { keys: selected }, options);
    const decode = this.decodeOptions();
    return (decode === undefined ? reply : await decodeImagesIn(reply, decode)) as Pick<Obs, K>;
  }

  /**
   * Sends action `key` with `payload`; resolves with what the server's action callback returned.
   * @throws {@link NotFoundError} for a key not in `actionKeys` (nothing is sent), {@link RemoteError} when the
   * server's callback threw, {@link TimeoutError} at the deadline.
   */
  async act<K extends keyof Acts & string>(key: K, payload?: Acts[K], options?: CallOptions): Promise<unknown> {
    this.config.checkAction(key);
    await this.handshake();
    return await this.rpc.call(M_ACT, key, payload, options);
  }

  /** The seed's spelling of {@link obs}. */
  getObservation<K extends keyof Obs & string = keyof Obs & string>(
    keys?: readonly K[],
    options?: CallOptions,
  ): Promise<Pick<Obs, K>> {
    return this.obs<K>(keys, options);
  }

  /**
   * The seed's spelling of {@link act}: `sendAction(payload)` sends to the config's only action key;
   * `sendAction(key, payload)` names the key (required when the config has several).
   * @throws {@link InvalidArgumentError} for `sendAction(payload)` when the config has several action keys.
   */
  sendAction(...args: [payload: unknown] | [key: keyof Acts & string, payload: unknown]): Promise<unknown> {
    if (args.length === 2) return this.act(args[0], args[1] as Acts[keyof Acts & string]);
    const [only, ...more] = this.config.actionKeys;
    if (only === undefined || more.length > 0) {
      return Promise.reject(
        new InvalidArgumentError('key', `the config has ${this.config.actionKeys.length} action keys: pass one`),
      );
    }
    return this.act(only as keyof Acts & string, args[0] as Acts[keyof Acts & string]);
  }

  /**
   * Calls `cb` with every observation the server publishes, starting with the latest one it published before this
   * subscription. A slow callback gets the newest observations: at most `queueSize` wait, older ones are dropped and
   * counted in {@link streamStats}. Returns the function that unsubscribes `cb`; several callbacks may be subscribed.
   * @throws {@link InvalidArgumentError} when the config has no `broadcastPort`.
   */
  onObs(cb: (payload: Obs, delivery: ObsDelivery<Obs>) => unknown, options: ObsStreamOptions = {}): () => void {
    if (this.closed) throw new ClosedError('action client is closed');
    const port = this.config.broadcastPort;
    if (port === undefined)
      throw new InvalidArgumentError('broadcastPort', 'the config has no broadcastPort to stream');
    if (typeof cb !== 'function') throw new InvalidArgumentError('cb', 'must be a function');
    const entry = { cb: cb as ObsListener, onError: options.onError };
    this.listeners.add(entry);
    const unsubscribe = (): void => {
      this.listeners.delete(entry);
    };
    options.signal?.addEventListener('abort', unsubscribe, { once: true });
    if (!this.subscriber) {
      const { transport, endpoint } = this.where.stream(port);
      this.subscriber = new Subscriber(transport, endpoint, [OBS_TOPIC], (d) => this.deliver(d), {
        ...(options.queueSize !== undefined ? { queueSize: options.queueSize } : {}),
        ...subscriberOptions(this.options),
        fetchLatest: latestFetcher((m, n, p) => this.rpc.call(m, n, p)),
      });
    }
    return unsubscribe;
  }

  /** The seed's name of {@link onObs}. */
  registerObsCallback(
    cb: (payload: Obs, delivery: ObsDelivery<Obs>) => unknown,
    options?: ObsStreamOptions,
  ): () => void {
    return this.onObs(cb, options);
  }

  /** Hands one observation to every callback; a callback's error goes to its `onError` and is counted. */
  private async deliver(d: Delivery): Promise<void> {
    let first: unknown;
    let failed = false;
    let payload = d.payload;
    const decode = this.decodeOptions();
    if (decode !== undefined) {
      try {
        payload = await decodeImagesIn(payload, decode);
      } catch (e) {
        for (const { onError } of [...this.listeners]) {
          try {
            onError?.(e);
          } catch {
            // as below
          }
        }
        throw e;
      }
    }
    for (const { cb, onError } of [...this.listeners]) {
      try {
        await cb(payload, d);
      } catch (e) {
        if (!failed) first = e;
        failed = true;
        try {
          onError?.(e);
        } catch {
          // An error callback that throws must not end the stream.
        }
      }
    }
    if (failed) throw first; // counted in streamStats().callbackErrors
  }

  /** The decode options of `decodeImages`, or `undefined` when images stay encoded. */
  private decodeOptions(): ImageDecodeOptions | undefined {
    return imageDecodeOptions(this.options.decodeImages, this.options.limits);
  }

  /** The latest streamed observation received (delivered to the callback or not), if any. */
  latestObs(): ObsDelivery<Obs> | undefined {
    return this.subscriber?.latest(OBS_TOPIC) as ObsDelivery<Obs> | undefined;
  }

  /** Stream counters: received, delivered, dropped (queue overflow and publisher-side gaps), errors. */
  streamStats(): SubscriberStats {
    return this.subscriber?.stats() ?? emptySubscriberStats();
  }

  /** Round trip to the server (after the handshake); resolves with the time it took in ms. */
  async ping(options?: CallOptions): Promise<number> {
    await this.handshake();
    const t = performance.now();
    await this.rpc.call(M_PING, undefined, null, options);
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
   * Connection status of the observation stream (`undefined` before {@link onObs}). `'unauthorized'`: the server
   * refused this client's security and no observation arrives; {@link streamAuthFailure} says why.
   */
  get streamStatus(): ConnectionStatus | undefined {
    return this.subscriber?.status;
  }

  /** Why the server refused the stream connection, while {@link streamStatus} is `'unauthorized'`. */
  get streamAuthFailure(): AuthenticationError | undefined {
    return this.subscriber?.authFailure;
  }

  /** Closes the client and its stream; waiting calls reject with a `ClosedError`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.subscriber?.close();
    this.rpc.close();
  }

  /** Closes the client (`await using client = ...`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
