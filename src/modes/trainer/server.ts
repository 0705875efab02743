/**
 * Trainer mode, server side: actors on edge devices stream experience into the trainer's bounded data tables with
 * `trainStep`; the trainer runs a train callback per step, serves custom requests, and broadcasts new weights to every
 * actor. Composes the rpc server, the publisher and the config handshake; holds no socket code. The client is in
 * `client.ts`, the config in `config.ts`, the tables in `tables.ts`, the file format in `persist.ts`. See
 * docs/trainer.md.
 *
 * @module
 */

import { untilAborted } from '../../core/deadline.js';
import { DEFAULT_MAX_PENDING_TRAIN_STEPS, DEFAULT_MAX_PENDING_TRAIN_STEPS_PER_CLIENT } from '../../core/defaults.js';
import { ClosedError, EdgeMLError, InvalidArgumentError, LimitError, NotFoundError } from '../../core/errors.js';
import { peerText } from '../../core/peer-text.js';
import { Publisher, type PublisherStats, serveLatest } from '../../messaging/broadcast.js';
import { serveHandshake } from '../../messaging/handshake.js';
import {
  publisherOptions,
  rpcServerOptions,
  ServerEndpoints,
  type ServerOptions,
} from '../../messaging/mode-options.js';
import { handlerContext, type RequestContext, RpcServer, type ServerStats } from '../../messaging/rpc-server.js';
import { encodeMessage } from '../../wire/codec.js';
import { TrainerConfig, type TrainerConfigOptions } from './config.js';
import { FairQueue } from './fair-queue.js';
import { TableJournals } from './journals.js';
import { type FileLimits, loadTrainerData, saveTrainerData } from './persist.js';
import { type SampleOptions, type TableStats, TableStore, type WaitOptions } from './tables.js';
import {
  checkWeightsStoreOptions,
  WeightsStore,
  type WeightsStoreOptions,
  type WeightsStoreStats,
} from './weights-store.js';
import { M_REQUEST, M_TRAIN, TRAINER_MODE, WEIGHTS_TOPIC, type WeightsMessage } from './wire.js';

/** What a train or request callback gets besides its arguments. */
export interface TrainerContext {
  /** Identity of the calling actor, stable for one connection. */
  peer: string;
  /** Aborts when the call is abandoned (its deadline passed, or the server stops). */
  signal: AbortSignal;
}

/** Runs for each `trainStep`, after its payload is stored in table `tableName`; its result goes back to the actor. */
export type TrainCallback = (tableName: string, payload: unknown, ctx: TrainerContext) => unknown;
/** Serves a custom request of `type` (one of the config's `requestTypes`); its result goes back to the caller. */
export type RequestCallback = (type: string, payload: unknown, ctx: TrainerContext) => unknown;

/** Options of a {@link TrainerServer}: those of every server ({@link ServerOptions}) and the train-step bounds. */
export interface TrainerServerOptions extends ServerOptions {
  /** Train steps held at once over all clients (stored, waiting for or running their callback); more are answered
   * with a `LimitError` and not stored. @default {@link DEFAULT_MAX_PENDING_TRAIN_STEPS} */
  maxPendingTrainSteps?: number;
  /** Pending train steps one client may hold (so one flooding actor cannot starve the others); more are answered
   * with a `LimitError` and not stored. @default {@link DEFAULT_MAX_PENDING_TRAIN_STEPS_PER_CLIENT} */
  maxPendingTrainStepsPerClient?: number;
  /**
   * Keep every table in a NATS JetStream stream (needs a `nats://` endpoint in `listen` and `@nats-io/jetstream`):
   * each stored train step is appended to its table's stream before the step is answered, `take()` removes the
   * items taken, and `start()` loads the stream back into the table, so a trainer killed and restarted keeps its
   * tables. One stream per table, `<stream>-<table>` (default `<stream>`: `<prefix>_<service>`, `edgeml_trainer`),
   * limited like the table: max msgs its `size`, max bytes its `maxBytes` (counted on the encoded items, a little
   * larger than `payloadBytes`), discard old for FIFO tables and new otherwise. See docs/trainer.md.
   */
  jetstream?: { stream?: string };
  /**
   * Keep the weights in a NATS object store bucket instead of broadcasting them (needs `nats://` endpoints only in
   * `listen`, and `@nats-io/obj`): each version is stored as object `v<version>` (the newest few kept: `keep`), the
   * hello reply names the bucket, and every client watches it and fetches the newest version for itself, at once when
   * it joins. Weights outlive the trainer, and a restarted trainer numbers its versions on from the newest stored. The
   * bucket: `bucket`, default `<prefix>_<service>_weights` (`edgeml_trainer_weights`). See docs/trainer.md.
   */
  objectStore?: WeightsStoreOptions;
}

/** Options of {@link TrainerServer.makeFromFile}. */
export interface MakeFromFileOptions extends TrainerServerOptions {
  /** Limits checked while reading the file. */
  fileLimits?: FileLimits;
  /** Ports to use instead of the saved ones (for example when restoring on another machine). */
  ports?: Pick<TrainerConfigOptions, 'portNumber' | 'broadcastPort'>;
}

/** Counters of a trainer server: those of every server, and the trainer's own. */
export interface TrainerServerStats extends ServerStats {
  /** Weights broadcast counters. */
  weights: PublisherStats;
  /** Version of the latest weights published (0: none yet). */
  weightsVersion: number;
  /** Train steps stored and waiting for or running their callback. */
  pendingTrainSteps: number;
  /** Train steps refused because {@link TrainerServerOptions.maxPendingTrainSteps} were pending (in all, or from the
   * calling client: {@link TrainerServerOptions.maxPendingTrainStepsPerClient}). */
  busyRejections: number;
  /** Per-table counters. */
  tables: Record<string, TableStats>;
  /** With `jetstream`: appends and removals the stream did not take (the items stay in memory). */
  journalErrors?: number;
  /** With `objectStore`: the bucket and the versions stored in it. */
  weightsStore?: WeightsStoreStats;
}

/**
 * The trainer: serves `trainStep` and custom requests, keeps data tables, broadcasts weights.
 *
 * Train callbacks run one at a time, in arrival order (an async callback is awaited before the next starts), so
 * learner code needs no locking; custom request callbacks run concurrently. A callback that throws rejects that
 * caller with a `RemoteError` and the trainer goes on.
 *
 * @example
 * ```ts
 * const config = new TrainerConfig({ dataTable: [new DataTable({ name: 'agent1', size: 1000 })] });
 * const server = new TrainerServer(config, (table, payload) => ({ stored: true }));
 * await server.start();
 * await server.waitForSize('agent1', 100);
 * server.publishWeights({ w: new Tensor('float32', new Float32Array(8), [2, 4]) });
 * ```
 */
export class TrainerServer {
  /** The config as given (ports may be 0: see {@link port} and {@link broadcastPort} for the bound ones). */
  readonly config: TrainerConfig;
  private readonly tables = new Map<string, TableStore>();
  private readonly rpc: RpcServer;
  private readonly publisher: Publisher;
  private readonly endpoints: ServerEndpoints;
  private boundBroadcastPort: number | undefined;
  private readonly maxPending: number;
  private readonly maxPendingPerClient: number;
  private readonly pendingByPeer = new Map<string, number>();
  private readonly handshakeRecord: Record<string, unknown>;
  private version = 0;
  private pending = 0;
  private busyRejections = 0;
  private readonly queue = new FairQueue();
  private started = false;
  /** With `jetstream`: each table's stream. */
  private readonly journals: TableJournals | undefined;
  /** With `objectStore`: its options, and the bucket once started. */
  private readonly weightsStoreOptions: WeightsStoreOptions | undefined;
  private weightsStore: WeightsStore | undefined;
  private readonly encode: ServerOptions['encode'];

  /**
   * @param config the config (a {@link TrainerConfig} or its plain fields)
   * @param trainCallback runs for each `trainStep` after the payload is stored
   * @param requestCallback serves custom requests whose type is in `config.requestTypes`
   * @throws {@link InvalidArgumentError} naming an invalid config field or option
   */
  constructor(
    config: TrainerConfig | TrainerConfigOptions,
    private readonly trainCallback?: TrainCallback,
    private readonly requestCallback?: RequestCallback,
    options: TrainerServerOptions = {},
  ) {
    this.config = TrainerConfig.from(config);
    if (trainCallback !== undefined && typeof trainCallback !== 'function') {
      throw new InvalidArgumentError('trainCallback', 'must be a function');
    }
    if (requestCallback !== undefined && typeof requestCallback !== 'function') {
      throw new InvalidArgumentError('requestCallback', 'must be a function');
    }
    this.maxPending = options.maxPendingTrainSteps ?? DEFAULT_MAX_PENDING_TRAIN_STEPS;
    if (!Number.isSafeInteger(this.maxPending) || this.maxPending < 1) {
      throw new InvalidArgumentError('maxPendingTrainSteps', 'must be a positive integer');
    }
    this.maxPendingPerClient = options.maxPendingTrainStepsPerClient ?? DEFAULT_MAX_PENDING_TRAIN_STEPS_PER_CLIENT;
    if (!Number.isSafeInteger(this.maxPendingPerClient) || this.maxPendingPerClient < 1) {
      throw new InvalidArgumentError('maxPendingTrainStepsPerClient', 'must be a positive integer');
    }
    if (options.jetstream !== undefined) {
      const js = options.jetstream as unknown;
      if (typeof js !== 'object' || js === null) throw new InvalidArgumentError('jetstream', 'must be { stream? }');
      const stream = (js as { stream?: unknown }).stream;
      if (stream !== undefined && typeof stream !== 'string') {
        throw new InvalidArgumentError('jetstream.stream', 'must be a string');
      }
      this.journals = new TableJournals(stream);
    }
    if (options.objectStore !== undefined) this.weightsStoreOptions = checkWeightsStoreOptions(options.objectStore);
    this.encode = options.encode;
    for (const t of this.config.dataTable) this.tables.set(t.name, new TableStore(t));
    this.endpoints = new ServerEndpoints(options, this.config.portNumber);
    this.rpc = new RpcServer(rpcServerOptions(options));
    this.rpc.describeAs('trainer');
    this.publisher = new Publisher(publisherOptions(options));
    serveLatest(this.rpc, this.publisher);
    // Updated in place with the bound ports once started (serveHandshake compares against this object).
    this.handshakeRecord = { ...this.config.toHandshake() };
    // With an object store, the hello reply tells clients where the weights are.
    serveHandshake(this.rpc, TRAINER_MODE, this.handshakeRecord, undefined, () =>
      this.weightsStore ? { weights: { bucket: this.weightsStore.bucket } } : {},
    );
    // Idempotent: a train step retried with the same step id (`u`) is stored and trained on once.
    this.rpc.handle(M_TRAIN, (payload, ctx) => this.onTrain(payload, ctx), { idempotent: true });
    this.rpc.handle(M_REQUEST, (payload, ctx) => this.onRequest(payload, ctx));
  }

  private onTrain(payload: unknown, ctx: RequestContext): unknown {
    const name = ctx.name;
    const table = name === undefined ? undefined : this.tables.get(name);
    if (name === undefined || !table) throw this.unknownTable(name);
    // Fair shares: the pending steps are divided between the clients that have some, so clients flooding the
    // trainer cannot hold every slot; a client below its share is admitted even when the others filled the trainer
    // (up to twice maxPendingTrainSteps in all), and the callbacks take the clients in turn.
    const mine = this.pendingByPeer.get(ctx.peer) ?? 0;
    const clients = this.pendingByPeer.size + (mine === 0 ? 1 : 0);
    const share = Math.max(1, Math.min(this.maxPendingPerClient, Math.floor(this.maxPending / clients)));
    if (mine >= share || (this.pending >= this.maxPending && mine > 0) || this.pending >= 2 * this.maxPending) {
      this.busyRejections++;
      throw new LimitError(
        `trainer busy: ${this.pending} train steps pending, ${mine} of them from this client (its share: ${share}); ` +
          'slow down and retry',
      );
    }
    table.insert(payload);
    const stored = this.journals?.append(name, payload);
    this.pending++;
    this.pendingByPeer.set(ctx.peer, mine + 1);
    const callback = this.trainCallback;
    // One callback at a time; a step abandoned at its deadline no longer holds up the ones after it.
    const tctx: TrainerContext = handlerContext(ctx);
    const run = this.queue.push(ctx.peer, () =>
      untilAborted(callback ? callback(name, payload, tctx) : null, ctx.signal),
    );
    const done = run.finally(() => {
      this.pending--;
      const left = (this.pendingByPeer.get(ctx.peer) ?? 1) - 1;
      if (left > 0) this.pendingByPeer.set(ctx.peer, left);
      else this.pendingByPeer.delete(ctx.peer);
    });
    if (stored === undefined) return done;
    // Answered once stored in the stream too: an acknowledged step survives the trainer's death.
    return Promise.all([done, stored]).then(([result]) => result);
  }

  private onRequest(payload: unknown, ctx: RequestContext): unknown {
    const type = ctx.name;
    if (type === undefined || !this.config.requestTypes.includes(type)) {
      const known = this.config.requestTypes;
      throw new NotFoundError(
        `unknown request type ${peerText(type)}; known: ${known.length ? known.join(', ') : '(none)'}`,
      );
    }
    if (!this.requestCallback) throw new NotFoundError(`request type ${type} has no request callback on the trainer`);
    return this.requestCallback(type, payload, handlerContext(ctx));
  }

  private unknownTable(name: string | undefined): NotFoundError {
    return new NotFoundError(`unknown table ${peerText(name)}; tables: ${this.tableNames().join(', ')}`);
  }

  private table(name: string): TableStore {
    const t = this.tables.get(name);
    if (!t) throw this.unknownTable(name);
    return t;
  }

  /** Binds the request/reply and broadcast ports; resolves once both are bound. */
  async start(): Promise<void> {
    if (this.started) throw new EdgeMLError('trainer server already started');
    const boundStream = await this.publisher.start(this.endpoints.stream(this.config.broadcastPort));
    // The bound broadcast port where a transport uses one (ZeroMQ); WebSocket and NATS carry the stream on the
    // request endpoint and leave the configured port as it is.
    const streamIndex = this.endpoints.broadcastPortIndex();
    const broadcastPort =
      streamIndex === undefined ? this.config.broadcastPort : (boundStream[streamIndex] ?? this.config.broadcastPort);
    this.boundBroadcastPort = broadcastPort;
    let port: number;
    try {
      await this.journals?.open(this.endpoints.rpc(), this.tables);
      if (this.weightsStoreOptions) {
        const bindings = this.endpoints.rpc();
        if (bindings.some((b) => b.endpoint.scheme !== 'nats')) {
          throw new InvalidArgumentError('objectStore', 'needs every endpoint in listen to be nats://');
        }
        this.weightsStore = await WeightsStore.open(bindings, this.weightsStoreOptions);
        this.version = Math.max(this.version, await this.weightsStore.newestVersion());
      }
      [port = this.config.portNumber] = await this.rpc.start(this.endpoints.rpc());
    } catch (e) {
      await this.weightsStore?.close();
      this.weightsStore = undefined;
      await this.journals?.close();
      await this.publisher.stop();
      throw e;
    }
    // The handshake compares the configured ports; a port of 0 stands for the one bound.
    const c = this.config;
    const ports = c.withPorts(
      c.portNumber === 0 ? port : c.portNumber,
      c.broadcastPort === 0 ? broadcastPort : c.broadcastPort,
    );
    Object.assign(this.handshakeRecord, ports.toHandshake());
    this.started = true;
  }

  /** The request/reply port (after {@link start}, the one bound). */
  get port(): number {
    return this.rpc.port ?? this.config.portNumber;
  }

  /** The weights broadcast port (after {@link start}, the one bound; the configured one where the stream travels on
   * the request endpoint, as over WebSocket and NATS). */
  get broadcastPort(): number {
    return this.boundBroadcastPort ?? this.config.broadcastPort;
  }

  /** The config with the ports actually bound (after {@link start}): what clients connect with when the server was
   * given port 0. */
  get boundConfig(): TrainerConfig {
    return this.config.withPorts(this.port, this.broadcastPort);
  }

  /** Stops serving and releases both ports. Pending {@link waitForSize} calls reject with a `ClosedError`; the
   * tables keep their items (read or save them after stopping). */
  async stop(): Promise<void> {
    this.started = false;
    await this.rpc.stop();
    await this.publisher.stop();
    await this.journals?.close();
    await this.weightsStore?.close();
    this.weightsStore = undefined;
    for (const t of this.tables.values()) t.cancelWaits();
  }

  /** Stops the server (`await using server = ...`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Broadcasts `weights` to every client that registered a weights callback, now and later (a client registering
   * afterwards gets the latest weights at once). Returns the new weights version (1, 2, ...), which clients read
   * beside the weights. Tensors are sent without a copy and kept as the latest value: do not modify them afterwards.
   * @throws {@link ClosedError} when the server is not started, {@link InvalidArgumentError} when `weights` cannot be
   * encoded
   */
  publishWeights(weights: unknown): number {
    if (!this.started) throw new ClosedError('start the trainer server before publishing weights');
    const version = this.version + 1;
    const message = { version, weights } satisfies WeightsMessage;
    // With an object store the weights go there (in the background: see flushWeights), not to the broadcast.
    if (this.weightsStore) {
      // Encoded now, so that weights that cannot travel fail here, as a broadcast would.
      this.weightsStore.store(version, encodeMessage(message, this.encode));
    } else this.publisher.publish(WEIGHTS_TOPIC, message);
    this.version = version;
    return version;
  }

  /**
   * Resolves once the weights published so far are in the object store (with `objectStore`; at once without). A
   * version replaced by a newer one before it was stored is skipped.
   */
  async flushWeights(): Promise<void> {
    await this.weightsStore?.flushed();
  }

  /** Version of the latest weights published (0: none yet). */
  get weightsVersion(): number {
    return this.version;
  }

  /** The items of table `name`, oldest first (at most its `size`); `undefined` for an unknown table. */
  getData(name: string): unknown[] | undefined {
    return this.tables.get(name)?.items();
  }

  /** Names of the tables, in config order. */
  tableNames(): string[] {
    return [...this.tables.keys()];
  }

  /**
   * Draws `n` items of table `name` uniformly at random: with replacement by default (`n` items, none when the
   * table is empty), or without (`{ replace: false }`: `min(n, size)` distinct items).
   * @throws {@link NotFoundError} for an unknown table
   */
  sample(name: string, n: number, options?: SampleOptions): unknown[] {
    return this.table(name).sample(n, options);
  }

  /** Removes and returns the oldest `n` items of table `name` (all by default), oldest first.
   * @throws {@link NotFoundError} for an unknown table */
  take(name: string, n?: number): unknown[] {
    const table = this.table(name);
    const out = table.take(n);
    if (out.length > 0) this.journals?.keepNewest(name, table.size);
    return out;
  }

  /** Stores `item` in table `name` locally, as a `trainStep` would (without running the train callback).
   * @throws {@link NotFoundError} for an unknown table, {@link LimitError} when a non-FIFO table is full */
  insert(name: string, item: unknown): void {
    this.table(name).insert(item);
    void this.journals?.append(name, item);
  }

  /** Counters of table `name` (size, inserted, dropped, rejected, taken); `undefined` for an unknown table. */
  tableStats(name: string): TableStats | undefined {
    return this.tables.get(name)?.stats();
  }

  /**
   * Resolves once table `name` holds at least `n` items (no deadline unless `timeoutMs` is given).
   * @throws {@link NotFoundError} for an unknown table, {@link InvalidArgumentError} when `n` exceeds the table's
   * size, {@link TimeoutError}, {@link AbortError}, or {@link ClosedError} when the server stops
   */
  async waitForSize(name: string, n: number, options?: WaitOptions): Promise<void> {
    await this.table(name).waitForSize(n, options);
  }

  /** Train steps stored and waiting for or running their train callback. */
  get pendingTrainSteps(): number {
    return this.pending;
  }

  /** Counters of the server, its broadcast and its tables. */
  stats(): TrainerServerStats {
    const tables: Record<string, TableStats> = {};
    for (const [name, t] of this.tables) tables[name] = t.stats();
    return {
      ...this.rpc.stats(),
      weights: this.publisher.stats(),
      weightsVersion: this.version,
      pendingTrainSteps: this.pending,
      busyRejections: this.busyRejections,
      tables,
      ...(this.journals ? { journalErrors: this.journals.errors } : {}),
      ...(this.weightsStore ? { weightsStore: this.weightsStore.stats() } : {}),
    };
  }

  /**
   * Saves the config, every table's items and counters, and the weights version to `path`, atomically, in the
   * format of docs/file-format.md (the content is captured when the call is made).
   * @throws {@link EdgeMLError} when the file cannot be written (the previous file stays intact)
   */
  async saveData(path: string): Promise<void> {
    await saveTrainerData(path, {
      config: this.config,
      weightsVersion: this.version,
      savedAt: new Date().toISOString(),
      tables: [...this.tables.values()].map((t) => {
        const { inserted, dropped, rejected, taken } = t.stats();
        return { name: t.name, items: t.items(), counters: { inserted, dropped, rejected, taken } };
      }),
    });
  }

  /**
   * A server restored from a file written by {@link saveData}: the saved config, tables and counters, and weights
   * versions continuing from the saved one. The server is not started.
   * @throws {@link NotFoundError} when the file does not exist, {@link ProtocolError} when it is corrupt, truncated
   * or not trainer data, {@link LimitError} over a file limit
   */
  static async makeFromFile(
    path: string,
    trainCallback?: TrainCallback,
    requestCallback?: RequestCallback,
    options: MakeFromFileOptions = {},
  ): Promise<TrainerServer> {
    const { fileLimits, ports, ...serverOptions } = options;
    const snapshot = await loadTrainerData(path, fileLimits);
    const config = ports ? new TrainerConfig({ ...snapshot.config.toJSON(), ...ports }) : snapshot.config;
    const server = new TrainerServer(config, trainCallback, requestCallback, serverOptions);
    for (const t of snapshot.tables) server.table(t.name).restore(t.items, t.counters);
    server.version = snapshot.weightsVersion;
    return server;
  }
}
