/**
 * Trainer mode, client side (the actor): sends experience with `trainStep`, custom requests with `request`, and
 * receives the weights the trainer broadcasts. Composes {@link RpcClient}, {@link Subscriber} and the config handshake;
 * holds no socket code. See docs/trainer.md.
 *
 * @module
 */

import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS, DEFAULT_WEIGHTS_QUEUE } from '../../core/defaults.js';
import {
  AbortError,
  type AuthenticationError,
  ClosedError,
  InvalidArgumentError,
  LimitError,
  NotFoundError,
  ProtocolError,
  TimeoutError,
} from '../../core/errors.js';
import { Subscriber, type SubscriberStats } from '../../messaging/broadcast.js';
import { handshake } from '../../messaging/handshake.js';
import { type ModeClientOptions, rpcClientOptions, subscriberOptions } from '../../messaging/mode-options.js';
import { type CallOptions, RpcClient } from '../../messaging/rpc-client.js';
import type { ConnectionStatus, Transport } from '../../transport/types.js';
import { transportFor } from '../../transport/zmq/zmq-transport.js';
import { RateLimiter, TrainerConfig, type TrainerConfigOptions } from './config.js';
import { M_REQUEST, M_TRAIN, TRAINER_MODE, WEIGHTS_TOPIC, type WeightsMessage } from './server.js';
import type { WaitOptions } from './tables.js';

/** Gets each new weights (the newest, when it falls behind) and their version. May be async: the next weights wait
 * for it to finish. */
export type WeightsCallback<W = unknown> = (weights: W, info: { version: number }) => void | Promise<void>;

/** Options of {@link TrainerClient.connect}. */
export interface TrainerClientOptions extends ModeClientOptions {
  /** Deadline of the connect handshake in ms. @default {@link DEFAULT_CONNECT_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Default deadline of each `trainStep` / `request` in ms. @default {@link DEFAULT_TIMEOUT_MS} */
  callTimeoutMs?: number;
  /** Weights queued for a slow weights callback before the oldest is dropped. @default {@link DEFAULT_WEIGHTS_QUEUE}
   * (the callback always gets the newest weights) */
  weightsQueueSize?: number;
  /** Called when a weights callback throws (the client goes on). */
  onError?: (error: unknown) => void;
}

interface WeightsWaiter {
  min: number;
  done: (error?: unknown) => void;
}

/**
 * An actor's connection to a {@link TrainerServer}. Create it with {@link TrainerClient.connect}, which checks that
 * the client's config equals the server's.
 *
 * `config.rateLimit` is enforced here: calls are spaced at least `1000 / rateLimit` ms apart (`trainStep` and
 * `request` share the budget). A call over the limit waits for its slot; the wait counts against its deadline, and a
 * call whose slot lies beyond its deadline is refused at once with a `LimitError` (nothing is sent).
 *
 * @example
 * ```ts
 * const config = new TrainerConfig({ dataTable: [new DataTable({ name: 'agent1', size: 2 })] });
 * const trainer = await TrainerClient.connect('gpu-box.local', config);
 * trainer.registerCallback((weights, { version }) => agent.updateWeights(weights));
 * await trainer.trainStep('agent1', { observation });
 * ```
 */
export class TrainerClient<W = unknown> {
  private subscriber: Subscriber<WeightsMessage<W>> | undefined;
  private readonly callbacks = new Set<WeightsCallback<W>>();
  private readonly limiter: RateLimiter | undefined;
  private readonly sleeps = new Set<(error: unknown) => void>();
  private readonly weightWaiters = new Set<WeightsWaiter>();
  private latest: WeightsMessage<W> | undefined;
  private closed = false;
  private weightCallbackErrors = 0;

  private constructor(
    /** Host of the trainer. */
    readonly host: string,
    /** The config, equal to the server's. */
    readonly config: TrainerConfig,
    private readonly rpc: RpcClient,
    private readonly transport: Transport,
    private readonly options: TrainerClientOptions,
  ) {
    this.limiter = config.rateLimit === undefined ? undefined : new RateLimiter(config.rateLimit);
  }

  /**
   * Connects to the trainer at `host` (port `config.portNumber`) and performs the config handshake.
   * @throws {@link ConfigMismatchError} naming the fields that differ, {@link TimeoutError} when no trainer answers
   * within `timeoutMs`, {@link InvalidArgumentError} for an invalid config (a port of 0, for example)
   */
  static async connect<W = unknown>(
    host: string,
    config: TrainerConfig | TrainerConfigOptions,
    options: TrainerClientOptions = {},
  ): Promise<TrainerClient<W>> {
    if (typeof host !== 'string' || host.length === 0) throw new InvalidArgumentError('host', 'must be a host name');
    const cfg = TrainerConfig.from(config);
    if (cfg.portNumber === 0) throw new InvalidArgumentError('portNumber', "a client needs the server's actual port");
    if (cfg.broadcastPort === 0) {
      throw new InvalidArgumentError('broadcastPort', "a client needs the server's actual port");
    }
    const transport = transportFor('client', options);
    const rpc = new RpcClient(
      transport,
      { host, port: cfg.portNumber },
      rpcClientOptions(options, options.callTimeoutMs ?? DEFAULT_TIMEOUT_MS),
    );
    try {
      await handshake(rpc, TRAINER_MODE, cfg.toHandshake(), {
        timeoutMs: options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      });
    } catch (e) {
      rpc.close();
      throw e;
    }
    return new TrainerClient<W>(host, cfg, rpc, transport, options);
  }

  /**
   * Sends `data` to table `table`; resolves with the train callback's result.
   * @throws {@link NotFoundError} for a table not in the config (nothing is sent), {@link LimitError} over the rate
   * limit (see the class), when the trainer is busy or a non-FIFO table is full (the data was not stored: retry
   * later), {@link RemoteError} when the train callback threw, {@link TimeoutError}, {@link AbortError}
   */
  async trainStep(table: string, data: unknown, options: CallOptions = {}): Promise<unknown> {
    if (typeof table !== 'string' || !this.config.table(table)) {
      const names = this.config.dataTable.map((t) => t.name).join(', ');
      throw new NotFoundError(`unknown table ${JSON.stringify(table)}; tables: ${names}`);
    }
    return this.send(M_TRAIN, table, data, options);
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

  private async send(method: string, name: string, payload: unknown, options: CallOptions): Promise<unknown> {
    if (this.closed) throw new ClosedError('trainer client is stopped');
    let timeoutMs = options.timeoutMs ?? this.options.callTimeoutMs ?? DEFAULT_TIMEOUT_MS;
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

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortError('call aborted', { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => done(new AbortError('call aborted while waiting for the rate limit'));
      const done = (error?: unknown): void => {
        clearTimeout(timer);
        this.sleeps.delete(done);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const timer = setTimeout(() => done(), ms);
      this.sleeps.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Registers `callback` for the weights the trainer broadcasts. The first registration subscribes; if weights were
   * published before, the callback gets the latest at once. A slow callback gets the newest weights next, never a
   * backlog. Returns a function that unregisters the callback.
   * @throws {@link ClosedError} when the client is stopped
   */
  recvWeightsCallback(callback: WeightsCallback<W>): () => void {
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

  /** The seed's name of {@link recvWeightsCallback}. */
  registerCallback(callback: WeightsCallback<W>): () => void {
    return this.recvWeightsCallback(callback);
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
    if (this.closed) return Promise.reject(new ClosedError('trainer client is stopped'));
    this.subscribe();
    const { timeoutMs, signal } = options;
    return new Promise<WeightsMessage<W>>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => done(new AbortError('wait for weights aborted', { cause: signal?.reason }));
      const done = (error?: unknown): void => {
        this.weightWaiters.delete(waiter);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error !== undefined) reject(error);
        else resolve(this.latest!);
      };
      const waiter: WeightsWaiter = { min: minVersion, done };
      if (signal?.aborted) return onAbort();
      if (this.latest && this.latest.version >= minVersion) return done();
      this.weightWaiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => done(new TimeoutError(`no weights of version ≥ ${minVersion} within ${timeoutMs} ms`, timeoutMs)),
          timeoutMs,
        );
      }
    });
  }

  private subscribe(): void {
    if (this.closed) throw new ClosedError('trainer client is stopped');
    if (this.subscriber) return;
    this.subscriber = new Subscriber<WeightsMessage<W>>(
      this.transport,
      { host: this.host, port: this.config.broadcastPort },
      [WEIGHTS_TOPIC],
      (d) => this.onWeights(d.payload),
      {
        queueSize: this.options.weightsQueueSize ?? DEFAULT_WEIGHTS_QUEUE,
        ...subscriberOptions(this.options),
      },
    );
  }

  private async onWeights(message: WeightsMessage<W>): Promise<void> {
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
    const s = this.subscriber?.stats();
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
    return this.closed ? 'closed' : this.subscriber?.status;
  }

  /** Why the trainer refused the weights connection, while {@link weightsStatus} is `'unauthorized'`. */
  get weightsAuthFailure(): AuthenticationError | undefined {
    return this.subscriber?.authFailure;
  }

  /** Stops the client: calls still waiting and weights waits reject with a `ClosedError`; no more weights arrive. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.sleeps]) s(new ClosedError('trainer client stopped'));
    for (const w of [...this.weightWaiters]) w.done(new ClosedError('trainer client stopped'));
    this.callbacks.clear();
    this.subscriber?.close();
    this.rpc.close();
  }

  /** Same as {@link stop}. */
  close(): void {
    this.stop();
  }
}
