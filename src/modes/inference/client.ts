/**
 * Inference mode, client side: edge devices call the interfaces of an {@link InferenceServer}.
 *
 * @module
 */

import { DEFAULT_CONNECT_TIMEOUT_MS } from '../../core/defaults.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { ConnectionStatus } from '../../core/types.js';
import { decodeImagesIn, encodeImagesAt, imageDecodeOptions } from '../../image/payload.js';
import { ClientEndpoint, type ClientOptions, rpcClientOptions } from '../../messaging/mode-options.js';
import { type CallOptions, type RetryCallOptions, RpcClient } from '../../messaging/rpc-client.js';
import { M_PING } from '../../messaging/rpc-server.js';
import type { ImageDecodeOptions } from '../../tensor/image.js';
import {
  checkName,
  type InferenceApi,
  type InterfaceDescription,
  M_CALL,
  M_DESCRIBE,
  M_INTERFACES,
  type UntypedApi,
} from './api.js';

/** Options of an {@link InferenceClient}: those of every client ({@link ClientOptions}), and image handling. */
export interface InferenceClientOptions extends ClientOptions {
  /**
   * `'server'`: fetch the interfaces' declared inputs (`describe`) once, and before each call resize and encode the
   * uint8 HxWxC tensor under every payload key the interface declared (for example `image`) to the size, format and
   * quality it asks for. Only top-level payload keys the server names are touched; other tensors travel raw. A server
   * without `describe` (before edgeml 0.3) gets the payload unchanged. Absent: payloads are sent as given.
   */
  resize?: 'server';
  /** Decode every image in a reply to a uint8 tensor (`true`, or the decode limits). Off by default. */
  decodeImages?: boolean | ImageDecodeOptions;
}

/**
 * Options of {@link InferenceClient.call}: a deadline and signal, and for interfaces registered `idempotent` on the
 * server, `retry`: after an attempt has had no reply for `attemptTimeoutMs` (its worker died, or is slow) the call is
 * sent again with the same idempotency key and the time left, which over NATS reaches a live worker of the service;
 * the first reply to any attempt answers.
 */
export type InferenceCallOptions = RetryCallOptions;

/**
 * Calls the interfaces of an `InferenceServer`. The client connects in the background and reconnects by itself: a
 * call made while the server is down waits for it until the call's deadline.
 *
 * The type parameter, optional, checks interface names, payloads and results at compile time (the same map as the
 * server's).
 *
 * @example
 * ```ts
 * const client = await InferenceClient.connect<Api>('tcp://gpu-box.local:5555');
 * const { label } = await client.call('classify', { image: tensor }, { timeoutMs: 500 });
 * await client.close();
 * ```
 */
export class InferenceClient<Api extends InferenceApi<Api> = UntypedApi> {
  private readonly rpc: RpcClient;
  private readonly resize: boolean;
  private readonly decode: ImageDecodeOptions | undefined;
  private described: Promise<Record<string, InterfaceDescription>> | undefined;
  /** The server answered `describe` as an unknown method (edgeml before 0.3): never ask again. */
  private noDescribe = false;

  /**
   * The seed's shape: `new InferenceClient(host, port)`; or `new InferenceClient(url)` with an endpoint URL.
   * @throws {@link InvalidArgumentError} for a bad host, port, URL or option
   */
  constructor(target: string, port?: number, options?: InferenceClientOptions);
  constructor(target: string, options?: InferenceClientOptions);
  constructor(
    target: string,
    portOrOptions?: number | InferenceClientOptions,
    maybeOptions: InferenceClientOptions = {},
  ) {
    const port = typeof portOrOptions === 'number' ? portOrOptions : undefined;
    const options = typeof portOrOptions === 'object' ? portOrOptions : maybeOptions;
    const where = new ClientEndpoint(target, port, options);
    this.rpc = new RpcClient(where.transport, where.endpoint, rpcClientOptions(options));
    if (options.resize !== undefined && options.resize !== 'server') {
      throw new InvalidArgumentError('resize', "must be 'server' or absent");
    }
    this.resize = options.resize === 'server';
    this.decode = imageDecodeOptions(options.decodeImages, options.limits);
  }

  /**
   * Connects and resolves once the server has answered a ping (within `connectTimeoutMs`).
   * @throws {@link TimeoutError} when no server answers in time, {@link AuthenticationError} when it refuses this
   * client's security
   */
  static async connect<A extends InferenceApi<A> = UntypedApi>(
    target: string,
    options: InferenceClientOptions & { port?: number } = {},
  ): Promise<InferenceClient<A>> {
    const { port, ...rest } = options;
    const client = new InferenceClient<A>(target, port, rest);
    try {
      await client.ping({ timeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS });
    } catch (e) {
      await client.close();
      throw e;
    }
    return client;
  }

  /**
   * Calls interface `name` with `payload` and resolves with its result. With `retry: n` (only for an interface the
   * server registered `idempotent`), the call is sent again with the same idempotency key each `attemptTimeoutMs`
   * without a reply (default: the deadline divided by `n + 1`), earlier attempts still waiting: the first reply to
   * any attempt answers, and the whole call still ends at `timeoutMs`.
   * @throws {@link NotFoundError} for an unknown interface (the message lists the available ones),
   * {@link RemoteError} when the handler threw, {@link TimeoutError} at the deadline, {@link AbortError} on abort,
   * {@link AuthenticationError} when the server refuses this client's security.
   */
  async call<K extends keyof Api & string>(
    name: K,
    ...[payload, options]: undefined extends Api[K]['request']
      ? [payload?: Api[K]['request'], options?: InferenceCallOptions]
      : [payload: Api[K]['request'], options?: InferenceCallOptions]
  ): Promise<Api[K]['reply']> {
    checkName(name);
    let body: unknown = payload ?? null;
    if (this.resize) {
      const input = (await this.describeCached(name, deadlineOf(options)))[name]?.input;
      if (input !== undefined) body = await encodeImagesAt(body, input);
    }
    const reply = await this.rpc.call(M_CALL, name, body, options);
    return (this.decode === undefined ? reply : await decodeImagesIn(reply, this.decode)) as Api[K]['reply'];
  }

  /**
   * Every interface of the server with what it declared about its input (`registerInterface(name, fn, { input })`).
   * @throws {@link InvalidArgumentError} from a server older than edgeml 0.3, which has no `describe`
   */
  async describe(options?: CallOptions): Promise<Record<string, InterfaceDescription>> {
    return (await this.rpc.call(M_DESCRIBE, undefined, null, options)) as Record<string, InterfaceDescription>;
  }

  /** The description, fetched once (again when `name` is not in it: it may have been registered since). */
  private async describeCached(name: string, options?: CallOptions): Promise<Record<string, InterfaceDescription>> {
    const fetch = (): Promise<Record<string, InterfaceDescription>> =>
      this.describe(options).catch((e: unknown) => {
        if (e instanceof InvalidArgumentError) {
          this.noDescribe = true; // an older server: send as given
          return {};
        }
        this.described = undefined;
        throw e;
      });
    this.described ??= fetch();
    const d = await this.described;
    if (this.noDescribe || Object.hasOwn(d, name)) return d;
    this.described = fetch();
    return this.described;
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

  /** Closes the client; calls still waiting reject with a `ClosedError`. Idempotent. */
  async close(): Promise<void> {
    this.rpc.close();
  }

  /** Closes the client (`await using client = ...`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The deadline and signal of a call's options, without its retry and key (for the calls made on its behalf). */
function deadlineOf(options: InferenceCallOptions | undefined): CallOptions {
  const out: CallOptions = {};
  if (options?.timeoutMs !== undefined) out.timeoutMs = options.timeoutMs;
  if (options?.signal !== undefined) out.signal = options.signal;
  return out;
}
