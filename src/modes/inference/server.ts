/**
 * Inference mode, server side: the GPU machine serves named interfaces to any number of clients.
 *
 * @module
 */

import { InvalidArgumentError, NotFoundError } from '../../core/errors.js';
import { peerText } from '../../core/peer-text.js';
import { checkImageSpecs, decodeImagesIn, type ImageSpec, imageDecodeOptions } from '../../image/payload.js';
import { Batcher, type BatchOptions, type BatchStats } from '../../messaging/batching.js';
import { rpcServerOptions, ServerEndpoints, type ServerOptions } from '../../messaging/mode-options.js';
import { handlerContext, RpcServer, type ServerStats } from '../../messaging/rpc-server.js';
import type { ImageDecodeOptions } from '../../tensor/image.js';
import {
  type BatchInferenceHandler,
  checkName,
  type InferenceApi,
  type InferenceHandler,
  type InterfaceDescription,
  M_CALL,
  M_DESCRIBE,
  M_INTERFACES,
  type UntypedApi,
} from './api.js';

/** Options of {@link InferenceServer.registerInterface}. */
export interface InterfaceOptions {
  /** Dynamic batching: calls from any number of clients are gathered into batches for the handler. */
  batch?: BatchOptions;
  /**
   * What the interface asks clients to send, by payload key: `{ image: { width: 224, height: 224, format: 'jpeg',
   * quality: 80 } }`. Returned by `describe`; a client created with `resize: 'server'` resizes and encodes the uint8
   * HxWxC tensor under each such key before sending. Handlers still accept any payload (an older client sends raw
   * tensors): pair this with the server's `decodeImages` to get tensors whichever way they came.
   */
  input?: Readonly<Record<string, ImageSpec>>;
  /**
   * Calls that carry an idempotency key (a client's `call(name, payload, { retry: 1 })`) are run once per key on this
   * server: a retry of a call still running waits for its result, a retry of one answered gets the same result
   * (errors are not kept). Only for handlers that may run twice without harm: over NATS a retry may reach another
   * server of the service, which runs the call again unless it was answered. `describe` reports `idempotent: true`.
   */
  idempotent?: boolean;
}

/** Counters of an {@link InferenceServer}: those of every server, and the batches formed per batched interface. */
export interface InferenceServerStats extends ServerStats {
  /** Batch counters (sizes formed) per interface registered with `batch`. */
  batches: Record<string, BatchStats>;
}

/** Options of an {@link InferenceServer}: its port, and those of every server ({@link ServerOptions}). */
export interface InferenceServerOptions extends ServerOptions {
  /** TCP port when `listen` is not given; 0 picks a free one (read it back from {@link InferenceServer.port}). */
  port?: number;
  /**
   * Decode every image in a request payload to a uint8 `[height, width, channels]` tensor before the handler sees
   * it (`true`, or the decode limits; `maxMessageBytes` defaults to `limits.maxMessageBytes`). Off by default: the
   * handler gets `Image` values, still encoded, and may store or forward them, or `await image.decode()`.
   */
  decodeImages?: boolean | ImageDecodeOptions;
}

/**
 * Serves named inference interfaces to any number of clients. Calls run concurrently: a slow handler does not hold
 * up calls to other interfaces. A handler that throws rejects that caller with a `RemoteError`; the server goes on.
 * Each handler gets the payload and a context whose `signal` aborts when the call is abandoned.
 *
 * The type parameter, optional, checks interface names, payloads and results at compile time.
 *
 * @example
 * ```ts
 * type Api = { classify: { request: { image: Tensor }; reply: { label: string } } };
 * const server = new InferenceServer<Api>({ port: 5555, host: '0.0.0.0' });
 * server.registerInterface('classify', async ({ image }) => ({ label: await model.run(image) }));
 * await server.start();
 * ```
 */
export class InferenceServer<Api extends InferenceApi<Api> = UntypedApi> {
  private readonly rpc: RpcServer;
  private readonly endpoints: ServerEndpoints;
  private readonly handlers = new Map<string, InferenceHandler>();
  private readonly batchers = new Map<string, Batcher<unknown, unknown>>();
  private readonly descriptions = new Map<string, InterfaceDescription>();
  /** Interfaces whose keyed calls are answered once per key. */
  private readonly idempotent = new Set<string>();

  /**
   * @param options a port number (the seed's shape), or the options: `{ port, host }` or `{ listen: urls }`
   * @throws {@link InvalidArgumentError} for a bad port, URL or option
   */
  constructor(options: number | InferenceServerOptions = {}) {
    const opts: InferenceServerOptions = typeof options === 'number' ? { port: options } : options;
    if (opts.listen !== undefined && opts.port !== undefined) {
      throw new InvalidArgumentError('port', 'give either listen or port, not both');
    }
    if (opts.listen === undefined && opts.port === undefined) {
      throw new InvalidArgumentError('port', 'give a port, or listen URLs');
    }
    this.endpoints = new ServerEndpoints(opts, opts.port ?? 0);
    this.rpc = new RpcServer(rpcServerOptions(opts));
    const decode = imageDecodeOptions(opts.decodeImages, opts.limits);
    this.rpc.handle(
      M_CALL,
      (payload, ctx) => {
        const name = ctx.name;
        const fn = name === undefined ? undefined : this.handlers.get(name);
        if (!fn || name === undefined) {
          const known = [...this.handlers.keys()];
          throw new NotFoundError(
            `unknown interface ${peerText(name)}; available: ${known.length ? known.join(', ') : '(none)'}`,
          );
        }
        const context = handlerContext(ctx, name);
        if (decode === undefined) return fn(payload, context);
        return decodeImagesIn(payload, decode).then((p) => fn(p, context));
      },
      { idempotent: (name) => name !== undefined && this.idempotent.has(name) },
    );
    this.rpc.handle(M_INTERFACES, () => [...this.handlers.keys()]);
    this.rpc.handle(M_DESCRIBE, () => this.describe());
    this.rpc.describeAs('inference', () => [...this.handlers.keys()].map((n) => [n, `${M_CALL}:${n}`] as const));
  }

  /**
   * Registers (or replaces) the handler of interface `name`. Works before and after {@link start}.
   *
   * With `{ batch: { maxBatchSize, maxDelayMs } }`, `fn` is a {@link BatchInferenceHandler}: it is called with an
   * array of payloads gathered from concurrent callers (any number of clients), at most `maxBatchSize` of them, and no
   * call waits longer than `maxDelayMs` for its batch to be dispatched. Each caller gets its own result or error.
   */
  registerInterface<K extends keyof Api & string>(
    name: K,
    fn: InferenceHandler<Api[K]['request'], Api[K]['reply']>,
    options?: InterfaceOptions & { batch?: undefined },
  ): this;
  registerInterface<K extends keyof Api & string>(
    name: K,
    fn: BatchInferenceHandler<Api[K]['request'], Api[K]['reply']>,
    options: InterfaceOptions & { batch: BatchOptions },
  ): this;
  registerInterface(name: string, fn: InferenceHandler | BatchInferenceHandler, options: InterfaceOptions = {}): this {
    checkName(name);
    if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'must be a function');
    const description: InterfaceDescription = {};
    if (options.input !== undefined) description.input = checkImageSpecs('input', options.input);
    if (options.idempotent !== undefined && typeof options.idempotent !== 'boolean') {
      throw new InvalidArgumentError('idempotent', 'must be a boolean');
    }
    if (options.idempotent) {
      description.idempotent = true;
      this.idempotent.add(name);
    } else this.idempotent.delete(name);
    this.descriptions.set(name, description);
    this.batchers.delete(name);
    if (options.batch) {
      const batcher = new Batcher<unknown, unknown>(fn as BatchInferenceHandler, options.batch);
      this.batchers.set(name, batcher);
      this.handlers.set(name, (payload) => batcher.submit(payload));
    } else this.handlers.set(name, fn as InferenceHandler);
    return this;
  }

  /** Removes interface `name`; returns whether it existed. */
  unregisterInterface(name: keyof Api & string): boolean {
    this.batchers.delete(name);
    this.descriptions.delete(name);
    this.idempotent.delete(name);
    return this.handlers.delete(name);
  }

  /** Names of the registered interfaces. */
  interfaces(): string[] {
    return [...this.handlers.keys()];
  }

  /** Every interface with what it declared (its `input`), as the wire method `describe` returns it. */
  describe(): Record<string, InterfaceDescription> {
    const out: Record<string, InterfaceDescription> = {};
    for (const name of this.handlers.keys()) {
      Object.defineProperty(out, name, { value: this.descriptions.get(name) ?? {}, enumerable: true });
    }
    return out;
  }

  /** Starts listening on every endpoint; resolves once all are bound. */
  async start(): Promise<void> {
    await this.rpc.start(this.endpoints.rpc());
  }

  /** The port of the first endpoint (after {@link start}, the one actually bound). */
  get port(): number {
    return this.rpc.port ?? this.endpoints.endpoints[0]?.port ?? 0;
  }

  /** Stops serving and releases the ports. Running handlers are abandoned (their signals abort). */
  async stop(): Promise<void> {
    await this.rpc.stop();
  }

  /** Stops the server (`await using server = ...`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Counters: clients, requests, errors, bytes, per-method calls and latency, batch sizes formed. */
  stats(): InferenceServerStats {
    const batches: Record<string, BatchStats> = {};
    for (const [name, b] of this.batchers) batches[name] = b.stats();
    return { ...this.rpc.stats(), batches };
  }
}
