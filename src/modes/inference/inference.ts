/**
 * Inference mode: the GPU machine serves named interfaces; edge clients call them with payloads (tensors, typed
 * arrays, plain data) and get results back.
 *
 * @module
 */

import { DEFAULT_BIND_HOST } from '../../core/defaults.js';
import { InvalidArgumentError, NotFoundError } from '../../core/errors.js';
import { peerText } from '../../core/peer-text.js';
import { Batcher, type BatchOptions, type BatchStats } from '../../messaging/batching.js';
import {
  type ModeClientOptions,
  type ModeServerOptions,
  rpcClientOptions,
  rpcServerOptions,
} from '../../messaging/mode-options.js';
import { type CallOptions, RpcClient } from '../../messaging/rpc-client.js';
import { RpcServer, type RpcServerStats } from '../../messaging/rpc-server.js';
import type { ConnectionStatus } from '../../transport/types.js';
import { transportFor } from '../../transport/zmq/zmq-transport.js';

/** An inference handler: gets the payload a client sent, returns (or resolves to) the result. */
export type InferenceHandler = (payload: unknown) => unknown;

/**
 * A batched inference handler: gets the payloads of several concurrent calls, returns (or resolves to) one result per
 * payload in the same order. An `Error` in the results rejects only that caller; a throw rejects the whole batch.
 */
export type BatchInferenceHandler = (payloads: unknown[]) => unknown[] | Promise<unknown[]>;

/** Options of {@link InferenceServer.registerInterface}. */
export interface InterfaceOptions {
  /** Dynamic batching: calls from any number of clients are gathered into batches for the handler. */
  batch?: BatchOptions;
}

/** Counters of an {@link InferenceServer}: the request side, and the batches formed per batched interface. */
export interface InferenceServerStats extends RpcServerStats {
  /** Batch counters (sizes formed) per interface registered with `batch`. */
  batches: Record<string, BatchStats>;
}

/** Options of an {@link InferenceServer}: its port, and those of every server ({@link ModeServerOptions}). */
export interface InferenceServerOptions extends ModeServerOptions {
  /** TCP port; 0 picks a free one (read it back from {@link InferenceServer.port}). */
  port: number;
}

/** Method names on the wire (docs/protocol.md, "Inference"). */
const M_CALL = 'call';
const M_INTERFACES = 'interfaces';
const M_PING = 'ping';

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError('name', 'interface names are non-empty strings');
  }
}

/**
 * Serves named inference interfaces to any number of clients. Calls run concurrently: a slow handler does not hold
 * up calls to other interfaces. A handler that throws rejects that caller with a {@link RemoteError}; the server
 * goes on.
 *
 * @example
 * ```ts
 * const server = new InferenceServer({ port: 5555, host: '0.0.0.0' });
 * server.registerInterface('classify', async ({ image }) => ({ label: await model.run(image) }));
 * await server.start();
 * ```
 */
export class InferenceServer {
  private readonly rpc: RpcServer;
  private readonly handlers = new Map<string, InferenceHandler>();
  private readonly batchers = new Map<string, Batcher<unknown, unknown>>();
  private readonly host: string;
  private requestedPort: number;

  /** @param options a port number, or the full options */
  constructor(options: number | InferenceServerOptions) {
    const opts: InferenceServerOptions = typeof options === 'number' ? { port: options } : options;
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
      throw new InvalidArgumentError('port', `must be an integer in 0..65535, got ${String(opts.port)}`);
    }
    this.requestedPort = opts.port;
    this.host = opts.host ?? DEFAULT_BIND_HOST;
    this.rpc = new RpcServer(transportFor('server', opts), rpcServerOptions(opts));
    this.rpc.handle(M_CALL, (payload, ctx) => {
      const name = ctx.name;
      const fn = name === undefined ? undefined : this.handlers.get(name);
      if (!fn) {
        const known = [...this.handlers.keys()];
        throw new NotFoundError(
          `unknown interface ${peerText(name)}; available: ${known.length ? known.join(', ') : '(none)'}`,
        );
      }
      return fn(payload);
    });
    this.rpc.handle(M_INTERFACES, () => [...this.handlers.keys()]);
    this.rpc.handle(M_PING, () => 'pong');
  }

  /**
   * Registers (or replaces) the handler of interface `name`. Works before and after {@link start}.
   *
   * With `{ batch: { maxBatchSize, maxDelayMs } }`, `fn` is a {@link BatchInferenceHandler}: it is called with an
   * array of payloads gathered from concurrent callers (any number of clients), at most `maxBatchSize` of them, and no
   * call waits longer than `maxDelayMs` for its batch to be dispatched. Each caller gets its own result or error.
   */
  registerInterface(name: string, fn: InferenceHandler): this;
  registerInterface(name: string, fn: BatchInferenceHandler, options: InterfaceOptions & { batch: BatchOptions }): this;
  registerInterface(name: string, fn: InferenceHandler | BatchInferenceHandler, options: InterfaceOptions = {}): this {
    checkName(name);
    if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'must be a function');
    this.batchers.delete(name);
    if (options.batch) {
      const batcher = new Batcher<unknown, unknown>(fn as BatchInferenceHandler, options.batch);
      this.batchers.set(name, batcher);
      this.handlers.set(name, (payload) => batcher.submit(payload));
    } else this.handlers.set(name, fn as InferenceHandler);
    return this;
  }

  /** Removes interface `name`; returns whether it existed. */
  unregisterInterface(name: string): boolean {
    this.batchers.delete(name);
    return this.handlers.delete(name);
  }

  /** Names of the registered interfaces. */
  interfaces(): string[] {
    return [...this.handlers.keys()];
  }

  /** Starts listening; resolves once the port is bound. */
  async start(): Promise<void> {
    this.requestedPort = await this.rpc.start({ host: this.host, port: this.requestedPort });
  }

  /** The port served (after {@link start}, the one actually bound). */
  get port(): number {
    return this.rpc.port ?? this.requestedPort;
  }

  /** Stops serving and releases the port. */
  async stop(): Promise<void> {
    await this.rpc.stop();
  }

  /** Counters: clients, requests, errors, bytes, latency percentiles per interface, batch sizes formed. */
  stats(): InferenceServerStats {
    const batches: Record<string, BatchStats> = {};
    for (const [name, b] of this.batchers) batches[name] = b.stats();
    return { ...this.rpc.stats(), batches };
  }
}

/** Options of an {@link InferenceClient}: those of every client ({@link ModeClientOptions}) and the call deadline. */
export interface InferenceClientOptions extends ModeClientOptions {
  /** Default deadline of each call in ms. @default 10000 */
  timeoutMs?: number;
}

/**
 * Calls the interfaces of an {@link InferenceServer}. The client connects in the background and reconnects by itself:
 * a call made while the server is down waits for it until the call's deadline.
 *
 * @example
 * ```ts
 * const client = new InferenceClient('gpu-box.local', 5555);
 * const { label } = await client.call('classify', { image: tensor }, { timeoutMs: 500 });
 * client.close();
 * ```
 */
export class InferenceClient {
  private readonly rpc: RpcClient;

  constructor(host: string, port: number, options: InferenceClientOptions = {}) {
    if (typeof host !== 'string' || host.length === 0) throw new InvalidArgumentError('host', 'must be a host name');
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new InvalidArgumentError('port', `must be an integer in 1..65535, got ${String(port)}`);
    }
    this.rpc = new RpcClient(
      transportFor('client', options),
      { host, port },
      rpcClientOptions(options, options.timeoutMs),
    );
  }

  /**
   * Calls interface `name` with `payload` and resolves with its result.
   * @throws {@link NotFoundError} for an unknown interface (the message lists the available ones),
   * {@link RemoteError} when the handler threw, {@link TimeoutError} at the deadline, {@link AbortError} on abort,
   * {@link AuthenticationError} when the server refuses this client's security.
   */
  async call<T = unknown>(name: string, payload?: unknown, options?: CallOptions): Promise<T> {
    checkName(name);
    return (await this.rpc.call(M_CALL, name, payload ?? null, options)) as T;
  }

  /** Names of the interfaces the server has registered. */
  async interfaces(options?: CallOptions): Promise<string[]> {
    return (await this.rpc.call(M_INTERFACES, undefined, null, options)) as string[];
  }

  /** Round trip to the server; resolves with the time it took in ms. */
  async ping(options?: CallOptions): Promise<number> {
    const t = performance.now();
    await this.rpc.call(M_PING, undefined, null, options);
    return performance.now() - t;
  }

  /** Connection status. */
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

  /** Closes the client; calls still waiting reject with a {@link ClosedError}. */
  close(): void {
    this.rpc.close();
  }
}
