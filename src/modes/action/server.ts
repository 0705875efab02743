/**
 * Action mode, server side: the edge device (robot, camera rig, simulator) serves observations and takes actions,
 * and streams observations to every subscribed client. Wire methods: docs/action.md.
 *
 * @module
 */

import { ClosedError, EdgeMLError, InvalidArgumentError } from '../../core/errors.js';
import { imageBackend } from '../../image/codec.js';
import { checkImageSpecs, encodeImagesAt, type ImageSpecs } from '../../image/payload.js';
import { Publisher, type PublisherStats, serveLatest } from '../../messaging/broadcast.js';
import { serveHandshake } from '../../messaging/handshake.js';
import { publisherOptions, rpcServerOptions, ServerEndpoints } from '../../messaging/mode-options.js';
import { handlerContext, RpcServer, type ServerStats } from '../../messaging/rpc-server.js';
import { refuseDuplicateNames } from '../../wire/unique.js';
import {
  ACTION_MODE,
  ActionConfig,
  type ActionConfigInit,
  type ActionServerOptions,
  M_ACT,
  M_OBS,
  OBS_TOPIC,
} from './config.js';

/** Observation and action types of a typed action server or client: key → payload type. */
export type KeyedPayloads = Record<string, unknown>;

/** What a callback gets besides its arguments. */
export interface ActionContext {
  /** Identity of the calling peer, stable for one connection. */
  peer: string;
  /** Aborts when the call is abandoned (its deadline passed, or the server stops). */
  signal: AbortSignal;
}

/** Gets the requested observation keys; returns (or resolves to) an object keyed by observation key. */
export type ObsCallback<Obs extends KeyedPayloads = KeyedPayloads> = (
  keys: (keyof Obs & string)[],
  ctx: ActionContext,
) => Partial<Obs> | Promise<Partial<Obs>>;

/** Runs action `key` with the client's payload; its return value (or resolution) goes back to the client. */
export type ActCallback<Acts extends KeyedPayloads = KeyedPayloads> = (
  key: keyof Acts & string,
  payload: Acts[keyof Acts & string],
  ctx: ActionContext,
) => unknown;

/** Counters of an {@link ActionServer}: those of every server, and the stream's when the config has a `broadcastPort`. */
export interface ActionServerStats extends ServerStats {
  /** Publisher counters; `undefined` without a `broadcastPort`. */
  stream: PublisherStats | undefined;
  /** With `encodeObs`: observations encoded and published, dropped while another was encoding, failed to encode. */
  obsEncoding?: { published: number; dropped: number; errors: number };
}

function checkFunction(field: string, fn: unknown): void {
  if (typeof fn !== 'function') throw new InvalidArgumentError(field, 'must be a function');
}

/**
 * Serves observations and actions to any number of `ActionClient`s, and streams observations to subscribers when
 * the config has a `broadcastPort`. A callback that throws rejects that client's call with a `RemoteError`; the
 * server goes on. Requests naming unknown keys are answered with a `NotFoundError` without calling the callbacks.
 *
 * The type parameters, optional, give each observation and action key its payload type.
 *
 * @example
 * ```ts
 * const config = new ActionConfig({ portNumber: 5555, broadcastPort: 5556, actionKeys: ['move'], observationKeys: ['cam1'] });
 * const server = new ActionServer(config, (keys) => ({ cam1: camera.latest() }), (key, payload) => robot.move(payload));
 * await server.start();
 * server.publishObs({ cam1: frame }); // to every subscribed client
 * ```
 */
export class ActionServer<Obs extends KeyedPayloads = KeyedPayloads, Acts extends KeyedPayloads = KeyedPayloads> {
  private readonly rpc: RpcServer;
  private readonly publisher: Publisher | undefined;
  private readonly endpoints: ServerEndpoints;
  private readonly requested: ActionConfig;
  private effective: ActionConfig;
  private running = false;
  private readonly encodeObs: ImageSpecs | undefined;
  private encoding = false;
  private pendingObs: Partial<Obs> | undefined;
  private readonly obsCounts = { published: 0, dropped: 0, errors: 0 };

  /**
   * @param options those of every server; `listen` URLs replace `host` and the config's `portNumber`
   * @throws {@link InvalidArgumentError} for a bad config, callback or option
   */
  constructor(
    config: ActionConfigInit | ActionConfig,
    private readonly obsCallback: ObsCallback<Obs>,
    private readonly actCallback: ActCallback<Acts>,
    options: ActionServerOptions = {},
  ) {
    this.requested = ActionConfig.from(config);
    this.effective = this.requested;
    checkFunction('obsCallback', obsCallback);
    checkFunction('actCallback', actCallback);
    this.endpoints = new ServerEndpoints(options, this.requested.portNumber);
    this.rpc = new RpcServer(rpcServerOptions(options));
    this.rpc.describeAs('action');
    if (this.requested.streaming) {
      this.publisher = new Publisher(publisherOptions(options));
      serveLatest(this.rpc, this.publisher);
    }
    if (options.encodeObs !== undefined) this.encodeObs = checkImageSpecs('encodeObs', options.encodeObs);
    this.rpc.handle(M_OBS, (payload, ctx) => {
      const keys = (payload as { keys?: unknown } | null | undefined)?.keys;
      refuseDuplicateNames(keys, 'observation keys');
      const selected = this.effective.selectObservations(keys) as (keyof Obs & string)[];
      return this.obsCallback(selected, handlerContext(ctx));
    });
    this.rpc.handle(M_ACT, (payload, ctx) => {
      const key = ctx.name;
      this.effective.checkAction(key);
      return this.actCallback(key, payload as Acts[keyof Acts & string], handlerContext(ctx));
    });
  }

  /**
   * Binds the stream (when configured), then the request endpoints. Resolves once all are bound; with port 0 the
   * bound ports are then readable from {@link port}, {@link broadcastPort} and {@link config}.
   * @throws {@link EdgeMLError} when already running or a port cannot be bound.
   */
  async start(): Promise<void> {
    if (this.running) throw new EdgeMLError('action server already started');
    this.running = true;
    try {
      // Fail here, not at the first publish, when no installed codec can encode the requested formats.
      for (const spec of Object.values(this.encodeObs ?? {})) await imageBackend(spec.format ?? 'jpeg');
      let broadcastPort = this.requested.broadcastPort;
      if (this.publisher && broadcastPort !== undefined) {
        const bound = await this.publisher.start(this.endpoints.stream(broadcastPort));
        // The bound broadcast port where a transport uses one (ZeroMQ); WebSocket and NATS carry the stream on the
        // request endpoint and leave the configured port as it is.
        const i = this.endpoints.broadcastPortIndex();
        if (i !== undefined) broadcastPort = bound[i] ?? broadcastPort;
      }
      // The handshake advertises the bound broadcast port, so it is registered once that port is known.
      const withStream = this.requested.with({ broadcastPort });
      serveHandshake(this.rpc, ACTION_MODE, withStream.canonical());
      const [port] = await this.rpc.start(this.endpoints.rpc());
      this.effective = withStream.with({ portNumber: port ?? this.requested.portNumber });
    } catch (e) {
      await this.publisher?.stop();
      this.running = false;
      throw e;
    }
  }

  /** Stops serving and releases the ports. Safe to call more than once; {@link start} may be called again. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.all([this.rpc.stop(), this.publisher?.stop()]);
  }

  /** Stops the server (`await using server = ...`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
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
   * Sends `payload` to every client that subscribed to observations, and keeps it as the latest value that a client
   * subscribing later gets at once. Tensors and typed arrays are sent without a copy: do not modify their data after
   * publishing. Clients that fall behind skip to newer observations (see docs/action.md).
   * @returns `true` when published, `false` (and nothing else happens) when the config has no `broadcastPort`.
   * @throws {@link ClosedError} when the server is not started, {@link InvalidArgumentError} when the payload cannot
   * be encoded.
   */
  publishObs(payload: Partial<Obs>): boolean {
    if (!this.publisher) return false;
    if (!this.running) throw new ClosedError('action server is not started');
    if (this.encodeObs === undefined) {
      this.publisher.publish(OBS_TOPIC, payload);
      return true;
    }
    if (this.encoding) {
      if (this.pendingObs !== undefined) this.obsCounts.dropped++;
      this.pendingObs = payload;
      return true;
    }
    void this.encodeAndPublish(payload, this.encodeObs, this.publisher);
    return true;
  }

  /** Encodes and publishes `payload`, then the newest observation published meanwhile, until there is none. */
  private async encodeAndPublish(payload: Partial<Obs>, specs: ImageSpecs, publisher: Publisher): Promise<void> {
    this.encoding = true;
    let next: Partial<Obs> | undefined = payload;
    while (next !== undefined) {
      this.pendingObs = undefined;
      try {
        const encoded = await encodeImagesAt(next, specs);
        if (this.running) {
          publisher.publish(OBS_TOPIC, encoded);
          this.obsCounts.published++;
        }
      } catch {
        this.obsCounts.errors++;
      }
      next = this.pendingObs;
    }
    this.encoding = false;
  }

  /** Counters: clients, requests, errors, bytes, per-method calls and latency, and the stream's counters. */
  stats(): ActionServerStats {
    const out: ActionServerStats = { ...this.rpc.stats(), stream: this.publisher?.stats() };
    if (this.encodeObs !== undefined) out.obsEncoding = { ...this.obsCounts };
    return out;
  }
}
