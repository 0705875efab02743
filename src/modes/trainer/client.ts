/**
 * Trainer mode, client side (the actor): sends experience with `trainStep`, custom requests with `request`, and
 * receives the weights the trainer broadcasts. Composes {@link RpcClient}, {@link Subscriber} and the config handshake;
 * holds no socket code. See docs/trainer.md.
 *
 * @module
 */

import { withDeadline } from '../../core/deadline.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS, DEFAULT_WEIGHTS_QUEUE } from '../../core/defaults.js';
import {
  type AuthenticationError,
  ClosedError,
  InvalidArgumentError,
  LimitError,
  NotFoundError,
  ProtocolError,
} from '../../core/errors.js';
import type { ConnectionStatus } from '../../core/types.js';
import { latestFetcher, Subscriber, type SubscriberStats } from '../../messaging/broadcast.js';
import { connected, LazyHandshake } from '../../messaging/handshake.js';
import {
  ClientEndpoint,
  type ClientOptions,
  rpcClientOptions,
  subscriberOptions,
} from '../../messaging/mode-options.js';
import { type CallOptions, type KeyedCallOptions, RpcClient } from '../../messaging/rpc-client.js';
import { RateLimiter, TrainerConfig, type TrainerConfigOptions } from './config.js';
import type { WaitOptions } from './tables.js';
import { WeightsWatcher } from './weights-store.js';
import { M_REQUEST, M_TRAIN, TRAINER_MODE, WEIGHTS_TOPIC, type WeightsMessage } from './wire.js';

/** Gets each new weights (the newest, when it falls behind) and their version. May be async: the next weights wait
 * for it to finish. */
export type WeightsCallback<W = unknown> = (weights: W, info: { version: number }) => void | Promise<void>;

/** Options of a {@link TrainerClient}: those of every client ({@link ClientOptions}), and the weights queue. */
export interface TrainerClientOptions extends ClientOptions {
  /** Weights queued for a slow weights callback before the oldest is dropped. @default {@link DEFAULT_WEIGHTS_QUEUE}
   * (the callback always gets the newest weights) */
  weightsQueueSize?: number;
  /** Called when a weights callback throws (the client goes on). */
  onError?: (error: unknown) => void;
}

/** Options of {@link TrainerClient.trainStep}. */
export interface TrainStepOptions extends CallOptions {
  /**
   * The step's id (1..128 characters): a step sent again with the same id, after a timeout say, is stored and
   * trained on once, and the retry gets the first one's result. @default a new random id per call (so retry with
   * the id you passed, not by calling again without one)
   */
  stepId?: string;
}

/** A random step id (128 bits, hex). */
function newStepId(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

interface WeightsWaiter {
  min: number;
  done: () => void;
  fail: (error: unknown) => void;
}

/**
 * An actor's connection to a `TrainerServer`. {@link TrainerClient.connect} checks at once that the client's config
 * equals the server's; a client built with `new TrainerClient(host, config)` (the seed's shape) does it on first use.
 *
 * `config.rateLimit` is enforced here: calls are spaced at least `1000 / rateLimit` ms apart (`trainStep` and
 * `request` share the budget). A call over the limit waits for its slot; the wait counts against its deadline, and a
 * call whose slot lies beyond its deadline is refused at once with a `LimitError` (nothing is sent).
 *
 * @example
 * ```ts
 * const config = new TrainerConfig({ dataTable: [new DataTable({ name: 'agent1', size: 2 })] });
 * const trainer = await TrainerClient.connect('gpu-box.local', config);
 * const unsubscribe = trainer.onWeights((weights, { version }) => agent.updateWeights(weights));
 * await trainer.trainStep('agent1', { observation });
 * ```
 */
export class TrainerClient<W = unknown> {
  private subscriber: Subscriber<WeightsMessage<W>> | undefined;
  /** With a trainer that keeps its weights in an object store: the watch of its bucket. */
  private watcher: WeightsWatcher | undefined;
  private readonly callbacks = new Set<WeightsCallback<W>>();
  private readonly limiter: RateLimiter | undefined;
  private readonly sleeps = new Set<(error: unknown) => void>();
  private readonly weightWaiters = new Set<WeightsWaiter>();
  private latest: WeightsMessage<W> | undefined;
  private closed = false;
  private weightCallbackErrors = 0;
  private readonly rpc: RpcClient;
  private readonly hello: LazyHandshake;
  private readonly where: ClientEndpoint;
  /** The config, equal to the server's once the handshake is done. */
  readonly config: TrainerConfig;

  /**
   * Creates a client that connects in the background and performs the handshake on first use (the seed's shape).
   * @param target a host name (the config's ports are used) or an endpoint URL
   * @throws {@link InvalidArgumentError} for a bad target or config (a client needs real ports, not 0)
   */
  constructor(
    target: string,
    config: TrainerConfig | TrainerConfigOptions,
    private readonly options: TrainerClientOptions = {},
  ) {
    this.config = TrainerConfig.from(config);
    if (this.config.portNumber === 0) {
      throw new InvalidArgumentError('portNumber', "a client needs the server's actual port");
    }
    this.limiter = this.config.rateLimit === undefined ? undefined : new RateLimiter(this.config.rateLimit);
    this.where = new ClientEndpoint(target, this.config.portNumber, options);
    if (this.config.broadcastPort === 0 && !this.where.sharedStream) {
      throw new InvalidArgumentError('broadcastPort', "a client needs the server's actual port");
    }
    this.rpc = new RpcClient(this.where.transport, this.where.endpoint, rpcClientOptions(options));
    const own = this.config;
    this.hello = new LazyHandshake(
      this.rpc,
      TRAINER_MODE,
      () => own.toHandshake(),
      options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    );
  }

  /**
   * Connects to the trainer and performs the config handshake (within `connectTimeoutMs`).
   * @param target a host name (port `config.portNumber`) or an endpoint URL
   * @throws {@link ConfigMismatchError} naming the fields that differ, {@link TimeoutError} when no trainer answers
   * in time, {@link InvalidArgumentError} for an invalid config (a port of 0, for example)
   */
  static async connect<W = unknown>(
    target: string,
    config: TrainerConfig | TrainerConfigOptions,
    options: TrainerClientOptions = {},
  ): Promise<TrainerClient<W>> {
    return connected(new TrainerClient<W>(target, config, options), (c) => c.handshake());
  }

  private handshake(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('trainer client is closed'));
    return this.hello.done().then(() => this.followWeights());
  }

  /** The bucket the hello reply names for the weights, if any. */
  private weightsBucket(): string | undefined {
    const w = this.hello.reply?.weights as { bucket?: unknown } | undefined;
    return typeof w === 'object' && w !== null && typeof w.bucket === 'string' ? w.bucket : undefined;
  }

  /** After the handshake: a weights subscription made before it moves to the bucket the trainer named. */
  private followWeights(): void {
    if (this.closed || !this.subscriber || this.weightsBucket() === undefined) return;
    this.subscriber.close();
    this.subscriber = undefined;
    this.subscribe();
  }

  /**
   * Sends `data` to table `table`; resolves with the train callback's result.
   * @throws {@link NotFoundError} for a table not in the config (nothing is sent), {@link LimitError} over the rate
   * limit (see the class), when the trainer is busy or a non-FIFO table is full (the data was not stored: retry
   * later), {@link RemoteError} when the train callback threw, {@link TimeoutError}, {@link AbortError}
   */
  async trainStep(table: string, data: unknown, options: TrainStepOptions = {}): Promise<unknown> {
    if (typeof table !== 'string' || !this.config.table(table)) {
      const names = this.config.dataTable.map((t) => t.name).join(', ');
      throw new NotFoundError(`unknown table ${JSON.stringify(table)}; tables: ${names}`);
    }
    const { stepId, ...call } = options;
    return this.send(M_TRAIN, table, data, { ...call, key: stepId ?? newStepId() });
  }

  /**
   * Sends a custom request of `type` (one of `config.requestTypes`); resolves with the request callback's result.
   * @throws {@link NotFoundError} for a type not in the config (nothing is sent); otherwise as {@link trainStep}
   */
  async request(type: string, payload?: unknown, options: CallOptions = {}): Promise<unknown> {
    if (typeof type !== 'string' || !this.config.requestTypes.includes(type)) {
      const known = this.config.requestTypes;
      throw new NotFoundError(
        `unknown request type ${JSON.stringify(type)}; known: ${known.length ? known.join(', ') : '(none)'}`,
      );
    }
    return this.send(M_REQUEST, type, payload, options);
  }

  private async send(method: string, name: string, payload: unknown, options: KeyedCallOptions): Promise<unknown> {
    if (this.closed) throw new ClosedError('trainer client is closed');
    await this.handshake();
    let timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (this.limiter) {
      const wait = this.limiter.reserve(timeoutMs);
      if (wait === undefined) {
        throw new LimitError(
          `rateLimit of ${this.limiter.ratePerSecond} calls/s: ${method} ${JSON.stringify(name)} would wait past its ` +
            `${timeoutMs} ms deadline`,
        );
      }
      if (wait > 0) {
        await this.sleep(wait, options.signal);
        timeoutMs = Math.max(1, timeoutMs - wait);
      }
    }
    return this.rpc.call(method, name, payload ?? null, { ...options, timeoutMs });
  }

  private async sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    // Ends with the timer (a "timeout" of the wait is its normal end), or early on abort or close.
    try {
      await withDeadline<void>({ timeoutMs: ms, signal, what: 'call waiting for the rate limit' }, (settle) => {
        const stop = (error: unknown): void => settle.reject(error);
        this.sleeps.add(stop);
        return () => this.sleeps.delete(stop);
      });
    } catch (e) {
      if (e instanceof Error && e.name === 'TimeoutError') return;
      throw e;
    }
  }

  /**
   * Calls `callback` with the weights the trainer broadcasts. The first subscription subscribes; if weights were
   * published before, the callback gets the latest at once. A slow callback gets the newest weights next, never a
   * backlog. Returns a function that unsubscribes the callback.
   * @throws {@link ClosedError} when the client is closed
   */
  onWeights(callback: WeightsCallback<W>): () => void {
    if (typeof callback !== 'function') throw new InvalidArgumentError('callback', 'must be a function');
    this.subscribe();
    this.callbacks.add(callback);
    if (this.latest) {
      // Weights already delivered to earlier callbacks: hand the latest to this one too.
      const { weights, version } = this.latest;
      void Promise.resolve()
        .then(() => callback(weights, { version }))
        .catch((e: unknown) => this.callbackError(e));
    }
    return () => {
      this.callbacks.delete(callback);
    };
  }

  /** The seed's name of {@link onWeights}. */
  recvWeightsCallback(callback: WeightsCallback<W>): () => void {
    return this.onWeights(callback);
  }

  /** The seed's other name of {@link onWeights}. */
  registerCallback(callback: WeightsCallback<W>): () => void {
    return this.onWeights(callback);
  }

  /** Version of the latest weights received (0: none yet). */
  get weightsVersion(): number {
    return this.latest?.version ?? 0;
  }

  /** The latest weights received and their version, if any. */
  latestWeights(): WeightsMessage<W> | undefined {
    return this.latest;
  }

  /**
   * Resolves with the latest weights once their version is at least `minVersion` (subscribing if needed).
   * @throws {@link TimeoutError}, {@link AbortError}, {@link ClosedError} when the client stops
   */
  waitForWeights(minVersion = 1, options: WaitOptions = {}): Promise<WeightsMessage<W>> {
    if (this.closed) return Promise.reject(new ClosedError('trainer client is closed'));
    this.subscribe();
    return withDeadline<WeightsMessage<W>>(
      {
        ...options,
        what: `wait for weights of version ≥ ${minVersion}`,
        timeoutMessage: () => `no weights of version ≥ ${minVersion} within ${options.timeoutMs} ms`,
      },
      (settle) => {
        const latest = this.latest;
        if (latest && latest.version >= minVersion) return settle.resolve(latest);
        const waiter: WeightsWaiter = {
          min: minVersion,
          done: () => settle.resolve(this.latest as WeightsMessage<W>),
          fail: (e) => settle.reject(e),
        };
        this.weightWaiters.add(waiter);
        return () => this.weightWaiters.delete(waiter);
      },
    );
  }

  private subscribe(): void {
    if (this.closed) throw new ClosedError('trainer client is closed');
    if (this.subscriber || this.watcher) return;
    const bucket = this.weightsBucket();
    if (bucket !== undefined) {
      // The trainer keeps its weights in an object store: fetch the newest from there, now and on every new one.
      this.watcher = new WeightsWatcher(
        this.where.transport,
        this.where.endpoint,
        bucket,
        this.options.limits ?? {},
        (m) => this.receiveWeights(m as WeightsMessage<W>),
        (e) => this.options.onError?.(e),
      );
      return;
    }
    const { transport, endpoint } = this.where.stream(this.config.broadcastPort);
    this.subscriber = new Subscriber<WeightsMessage<W>>(
      transport,
      endpoint,
      [WEIGHTS_TOPIC],
      (d) => this.receiveWeights(d.payload),
      {
        queueSize: this.options.weightsQueueSize ?? DEFAULT_WEIGHTS_QUEUE,
        ...subscriberOptions(this.options),
        fetchLatest: latestFetcher((m, n, p) => this.rpc.call(m, n, p)),
      },
    );
  }

  private async receiveWeights(message: WeightsMessage<W>): Promise<void> {
    const m = message as Partial<WeightsMessage<W>> | null;
    if (typeof m !== 'object' || m === null || typeof m.version !== 'number' || !('weights' in m)) {
      this.callbackError(new ProtocolError('weights message needs { version, weights }'));
      return;
    }
    this.latest = { version: m.version, weights: m.weights as W };
    for (const w of [...this.weightWaiters]) if (m.version >= w.min) w.done();
    for (const cb of [...this.callbacks]) {
      try {
        await cb(m.weights as W, { version: m.version });
      } catch (e) {
        this.callbackError(e);
      }
    }
  }

  private callbackError(e: unknown): void {
    this.weightCallbackErrors++;
    this.options.onError?.(e);
  }

  /** Counters of the weights subscription (`undefined` before the first registration), with callback errors. */
  weightsStats(): (SubscriberStats & { weightCallbackErrors: number }) | undefined {
    const s = this.subscriber?.stats() ?? this.watcher?.stats();
    return s && { ...s, weightCallbackErrors: this.weightCallbackErrors };
  }

  /** Connection status of the request/reply connection. */
  get status(): ConnectionStatus {
    return this.closed ? 'closed' : this.rpc.status;
  }

  /**
   * Connection status changes of the request connection from now on, as an async iterator that ends when the client
   * is closed or `signal` aborts: `for await (const status of client.statusEvents()) console.log(status)`.
   */
  statusEvents(signal?: AbortSignal): AsyncGenerator<ConnectionStatus, void, undefined> {
    return this.rpc.statusEvents(signal);
  }

  /**
   * Connection status of the weights subscription (`undefined` before the first weights registration or wait).
   * `'unauthorized'`: the trainer refused this client's security and no weights arrive; {@link weightsAuthFailure}
   * says why.
   */
  get weightsStatus(): ConnectionStatus | undefined {
    if (this.closed) return 'closed';
    if (this.watcher) return this.watcher.status === 'connected' ? 'connected' : 'disconnected';
    return this.subscriber?.status;
  }

  /** Why the trainer refused the weights connection, while {@link weightsStatus} is `'unauthorized'`. */
  get weightsAuthFailure(): AuthenticationError | undefined {
    return this.subscriber?.authFailure;
  }

  /**
   * Closes the client: calls still waiting and weights waits reject with a `ClosedError`; no more weights arrive.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.sleeps]) s(new ClosedError('trainer client closed'));
    for (const w of [...this.weightWaiters]) w.fail(new ClosedError('trainer client closed'));
    this.callbacks.clear();
    this.subscriber?.close();
    await this.watcher?.close();
    this.rpc.close();
  }

  /** Closes the client (`await using client = ...`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
