/**
 * The NATS transport (`nats://host:4222/<service>`, entry point `edgeml/nats`): request/reply through a queue group,
 * so that several servers behind one service name share the calls; publish/subscribe on per-topic subjects with late
 * joiners served from the publisher's latest values; messages larger than the NATS server's `max_payload` split into
 * chunks. The subjects, framing and chunking are specified in docs/protocol.md, "NATS mapping".
 *
 * nats.js (`@nats-io/transport-node`, an optional peer dependency) is loaded on first use. One transport holds one
 * connection per NATS server address for its servers' sockets and one for its clients' sockets; the last socket
 * closed closes it.
 *
 * @module
 */
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../core/defaults.js';
import { type EdgeMLError, InvalidArgumentError } from '../../core/errors.js';
import type { Endpoint, Frame, PeerId } from '../../core/types.js';
import { checkNatsOptions, DEFAULT_NATS_PREFIX, type NatsOptions } from '../nats-options.js';
import type {
  Address,
  BlobStore,
  ClientHandlers,
  ConnectionStatus,
  Journal,
  JournalOptions,
  JournalReader,
  JournalReadOptions,
  PublishSocket,
  ReplySocket,
  ReplySocketOptions,
  RequestSocket,
  SocketOptions,
  SubscribeSocket,
  Transport,
} from '../types.js';
import { NatsBlobStore } from './blob-store.js';
import { NatsRequestSocket, NatsSubscribeSocket } from './client-sockets.js';
import { NatsJournal, streamToken } from './journal.js';
import { NatsJournalReader } from './journal-reader.js';
import { hostPort, NatsLink, natsModule } from './link.js';
import { NatsPublishSocket, NatsReplySocket, type ReceiveLimits } from './server-sockets.js';
import { Subjects, serviceOf } from './subjects.js';

/** Default longest wait between two chunks of one message. */
export const DEFAULT_REASSEMBLY_TIMEOUT_MS = 10_000;

/** A client socket that can never connect (a bad endpoint): calls fail at once with its failure. */
class FailedSocket implements RequestSocket, SubscribeSocket {
  status: ConnectionStatus = 'closed';
  constructor(readonly failure: EdgeMLError) {}
  send(): void {}
  close(): void {}
}

/** See the module comment. */
export class NatsTransport implements Transport {
  private readonly options: NatsOptions;
  private readonly prefix: string;
  private readonly serverLinks = new Map<string, Promise<NatsLink>>();
  private readonly clientLinks = new Map<string, NatsLink>();

  /** @throws {@link InvalidArgumentError} for a bad option */
  constructor(options: NatsOptions = {}) {
    this.options = checkNatsOptions(options, 'nats');
    this.prefix = this.options.prefix ?? DEFAULT_NATS_PREFIX;
  }

  /** A transport once nats.js is loaded. @throws when `@nats-io/transport-node` is not installed */
  static async load(options: NatsOptions = {}): Promise<NatsTransport> {
    const t = new NatsTransport(options);
    await natsModule();
    return t;
  }

  private subjects(endpoint: Address): Subjects {
    return new Subjects(this.prefix, serviceOf(endpoint as Endpoint));
  }

  private limits(options: SocketOptions | undefined): ReceiveLimits {
    return {
      maxMessageBytes: options?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      reassemblyTimeoutMs: this.options.reassemblyTimeoutMs ?? DEFAULT_REASSEMBLY_TIMEOUT_MS,
    };
  }

  private async serverLink(address: Address): Promise<NatsLink> {
    const key = hostPort(address);
    let link = this.serverLinks.get(key);
    if (!link) {
      link = NatsLink.server(key, this.options, () => this.serverLinks.delete(key));
      this.serverLinks.set(key, link);
      link.catch(() => this.serverLinks.delete(key));
    }
    const l = await link;
    l.ref();
    return l;
  }

  private clientLink(address: Address): NatsLink {
    const key = hostPort(address);
    let link = this.clientLinks.get(key);
    if (!link) {
      link = NatsLink.client(key, this.options, () => this.clientLinks.delete(key));
      this.clientLinks.set(key, link);
    }
    return link;
  }

  async bindReply(
    address: Address,
    onRequest: (peer: PeerId, frames: Frame[]) => void,
    options?: ReplySocketOptions,
  ): Promise<ReplySocket> {
    const subjects = this.subjects(address);
    const link = await this.serverLink(address);
    const socket = new NatsReplySocket(
      link,
      subjects,
      address.port,
      onRequest,
      this.limits(options),
      options?.describe,
    );
    await socket.start();
    return socket;
  }

  connectRequest(
    address: Address,
    onReply: (frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): RequestSocket {
    let subjects: Subjects;
    try {
      subjects = this.subjects(address);
    } catch (e) {
      return this.failed(e as EdgeMLError, options);
    }
    const limits = this.limits(options);
    return new NatsRequestSocket(
      this.clientLink(address),
      subjects,
      onReply,
      limits,
      options,
      limits.reassemblyTimeoutMs,
    );
  }

  async bindPublish(
    address: Address,
    onSubscribe?: (topic: string) => void,
    _options?: SocketOptions,
  ): Promise<PublishSocket> {
    const subjects = this.subjects(address);
    const link = await this.serverLink(address);
    const socket = new NatsPublishSocket(link, subjects, address.port, onSubscribe);
    await socket.start();
    return socket;
  }

  connectSubscribe(
    address: Address,
    topics: readonly string[],
    onMessage: (topic: string, frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): SubscribeSocket {
    let subjects: Subjects;
    try {
      subjects = this.subjects(address);
    } catch (e) {
      return this.failed(e as EdgeMLError, options);
    }
    return new NatsSubscribeSocket(
      this.clientLink(address),
      subjects,
      topics,
      onMessage,
      this.limits(options),
      options,
    );
  }

  /**
   * A JetStream stream backing table `name`: `<stream>-<name>` (default `<stream>`: the prefix and service,
   * `edgeml_trainer`), on subject `<prefix>.<service>.table.<name>`.
   */
  async openJournal(address: Address, name: string, options: JournalOptions & { stream?: string }): Promise<Journal> {
    const subjects = this.subjects(address);
    const stream = this.streamName(address, name, options.stream);
    const link = await this.serverLink(address);
    try {
      return await NatsJournal.open(link, stream, subjects.table(name), options);
    } catch (e) {
      await link.unref();
      throw e;
    }
  }

  /** Reads the stream of journal `name` (see {@link NatsJournalReader}). */
  async readJournal(address: Address, name: string, options: JournalReadOptions): Promise<JournalReader> {
    const stream = this.streamName(address, name, options.stream);
    if (options.durable !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(options.durable)) {
      throw new InvalidArgumentError('durable', 'must be 1..64 of [A-Za-z0-9_-]');
    }
    const link = await this.serverLink(address);
    try {
      return await NatsJournalReader.open(link, stream, options);
    } catch (e) {
      await link.unref();
      throw e;
    }
  }

  /** The stream of journal `name`: `<stream>-<name>`, `<stream>` by default `<prefix>_<service>` (`.` as `_`). */
  private streamName(address: Address, name: string, stream: string | undefined): string {
    if (stream !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(stream)) {
      throw new InvalidArgumentError('jetstream.stream', 'must be 1..64 of [A-Za-z0-9_-]');
    }
    const base = stream ?? `${this.prefix.replace(/\./g, '_')}_${serviceOf(address as Endpoint)}`;
    return `${base}-${streamToken(name)}`;
  }

  /**
   * The object bucket `name` of the service: `<bucket>` when given, else `<prefix>_<service>_<name>` (`.` in the prefix
   * as `_`; `edgeml_trainer_weights`).
   */
  async openBlobStore(
    address: Address,
    name: string,
    options: { create: boolean; bucket?: string },
  ): Promise<BlobStore> {
    const subjects = this.subjects(address);
    if (options.bucket !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(options.bucket)) {
      throw new InvalidArgumentError('objectStore.bucket', 'must be 1..64 of [A-Za-z0-9_-]');
    }
    const bucket = options.bucket ?? `${subjects.serviceName}_${streamToken(name)}`;
    const link = await this.serverLink(address);
    try {
      return await NatsBlobStore.open(link, bucket, options.create);
    } catch (e) {
      await link.unref();
      throw e;
    }
  }

  private failed(error: EdgeMLError, handlers: ClientHandlers | undefined): FailedSocket {
    queueMicrotask(() => handlers?.onFailure?.(error));
    return new FailedSocket(error);
  }
}
