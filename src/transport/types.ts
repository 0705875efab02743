/**
 * The transport interface: how frames move between a client and a server. One folder per implementation sits beside
 * this file (`zmq/`, `inproc/`, ...), loaded by scheme through `registry.ts`; the rpc and broadcast layers only see
 * this interface.
 *
 * Transports move frames, not values: encoding is the codec's job. A transport never throws a library-specific error
 * (a raw ZeroMQ error, for example) at its user; failures surface as edgeml errors or status events.
 *
 * @module
 */

import type { AuthenticationError, EdgeMLError } from '../core/errors.js';
import type { MethodStats } from '../core/latency.js';
import type { ConnectionStatus, Endpoint, Frame, PeerId } from '../core/types.js';

export type { Address, ConnectionStatus, Endpoint, Frame, PeerId } from '../core/types.js';

/** Options common to every socket a transport opens. */
export interface SocketOptions {
  /** Largest frame accepted from a peer, in bytes; a peer that sends a larger one is disconnected. */
  maxMessageBytes?: number;
  /** Heartbeat interval in milliseconds (0 turns heartbeats off). */
  heartbeatMs?: number;
}

/** Options of a reply socket. */
export interface ReplySocketOptions extends SocketOptions {
  /**
   * Called when a reply to `peer` could not be queued because that peer does not read (its queue is full); the
   * reply is dropped. The server may stop serving that peer for a while.
   */
  onPeerBlocked?: (peer: PeerId) => void;
  /**
   * The server's self-description, for transports with a discovery protocol (NATS answers the service API's
   * `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` with it). Called on each discovery request.
   */
  describe?: () => ServiceDescription;
}

/** What a server says about itself in discovery: its kind, when it started, its endpoints and their counters. */
export interface ServiceDescription {
  /** The kind of server: `'inference'`, `'action'`, `'trainer'`. */
  kind: string;
  /** When it started serving, in ms since the epoch. */
  startedAt: number;
  /** Its endpoints (an inference server's interfaces; the methods of the others) and their counters so far. */
  endpoints: { name: string; stats: MethodStats | undefined }[];
}

/** Server side of request/reply: many clients, replies routed back to the requesting peer. */
export interface ReplySocket {
  /** The port actually bound (useful when binding port 0). */
  readonly port: number;
  /** Queues `frames` for the peer; a reply to a peer that is gone is dropped. Never throws. */
  send(peer: PeerId, frames: Frame[]): void;
  /** Stops listening. The port may stay held for a moment after (libzmq closes without unbinding); binds retry. */
  close(): Promise<void>;
}

/** Client side of request/reply. Reconnects by itself while the server is away. */
export interface RequestSocket {
  /**
   * Queues `frames` for the server. While no server is connected the message waits in the socket's queue;
   * `isStale()` is asked before the message is handed to the network, and a stale message is dropped.
   */
  send(frames: Frame[], isStale?: () => boolean): void;
  /** Current connection status. */
  readonly status: ConnectionStatus;
  /** Why the server refused the connection, while `status` is `'unauthorized'`. */
  readonly authFailure?: AuthenticationError | undefined;
  /** True when the connection is authenticated and encrypted (CURVE). */
  readonly secure?: boolean | undefined;
  /** Set when the connection can never be made (its transport failed to load): calls fail with it at once. */
  readonly failure?: EdgeMLError | undefined;
  /** Closes the socket; queued messages are dropped. */
  close(): void;
}

/** Server side of publish/subscribe. */
export interface PublishSocket {
  /** The port actually bound. */
  readonly port: number;
  /** Sends `frames` under `topic` to every subscriber of the topic. Slow subscribers lose messages, never block it. */
  publish(topic: string, frames: Frame[]): void;
  /** Stops publishing. The port may stay held for a moment after; binds retry. */
  close(): Promise<void>;
}

/** Client side of publish/subscribe. */
export interface SubscribeSocket {
  /** Current connection status. */
  readonly status: ConnectionStatus;
  /** Why the publisher refused the connection, while `status` is `'unauthorized'`. */
  readonly authFailure?: AuthenticationError | undefined;
  /** True when the connection is authenticated and encrypted (CURVE). */
  readonly secure?: boolean | undefined;
  /** Closes the socket. */
  close(): void;
}

/** Callbacks of a client-side socket. */
export interface ClientHandlers {
  /** Called for each connection status change. */
  onStatus?: (status: ConnectionStatus) => void;
  /** Called once when the connection can never be made (see {@link RequestSocket.failure}). */
  onFailure?: (error: EdgeMLError) => void;
}

/** A way to move frames. Implementations: `ZmqTransport` (`tcp://`, the default), `InprocTransport` (`inproc://`). */
/** Limits of a {@link Journal}, those of the table it backs. */
export interface JournalOptions {
  /** Most messages kept. */
  maxMessages: number;
  /** Most bytes kept (as the journal counts them: encoded messages). */
  maxBytes: number;
  /** `true`: a full journal drops its oldest messages; `false`: it refuses new ones. */
  discardOld: boolean;
}

/** A durable, bounded log of messages kept outside the process (NATS JetStream): a trainer table's items. */
export interface Journal {
  /** The messages held, oldest first. */
  load(): Promise<Frame[][]>;
  /** Appends one message; resolves once it is stored; rejects (a `LimitError`) when it does not fit */
  append(frames: Frame[]): Promise<void>;
  /** Removes all but the newest `n` messages. */
  keepNewest(n: number): Promise<void>;
  /** Releases the connection (the messages stay). */
  close(): Promise<void>;
}

/** How a {@link JournalReader} reads. */
export interface JournalReadOptions {
  /** The storage's name, as the writer gave it (a trainer's `jetstream.stream`). */
  stream?: string;
  /**
   * A name for the reader's position, kept by the storage: a reader opened again with it goes on after the last
   * message it had read, and readers open at once with one name share its messages. Without it the reader's position
   * lives as long as the reader.
   */
  durable?: string;
  /** Where a reader without a kept position starts: the oldest message held, or the next one written. */
  from: 'all' | 'new';
}

/** Reads a {@link Journal} written by another process (a second learner reading a trainer's table). */
export interface JournalReader {
  /**
   * The next message, waiting for one; `undefined` once closed. Asking for the next message (or closing) marks the one
   * before as read.
   */
  next(): Promise<Frame[] | undefined>;
  /** Messages skipped so far because they were not edgeml messages. */
  readonly skipped: number;
  /** Stops reading and releases the connection; a pending {@link next} resolves `undefined`. */
  close(): Promise<void>;
}

/**
 * A bucket of named objects kept outside the process (NATS's object store): a trainer's weights, one object per
 * version, that clients read when they want them.
 */
export interface BlobStore {
  /** The bucket's name in the storage. */
  readonly name: string;
  /** Stores `frames` as object `name` (replacing one of that name); resolves once stored. */
  put(name: string, frames: Frame[]): Promise<void>;
  /**
   * The frames of object `name`, `undefined` when there is none of that name.
   * @throws {@link LimitError} when it is larger than `maxBytes` (nothing is read), `ProtocolError` when it is not one
   * of ours
   */
  get(name: string, maxBytes: number): Promise<Frame[] | undefined>;
  /** Removes object `name` (nothing when there is none). */
  delete(name: string): Promise<void>;
  /** The names of the objects held. */
  list(): Promise<string[]>;
  /**
   * Calls `onChange` for every object held now and every one stored or deleted later, until the returned function is
   * called: `more` is true for those of the objects held now that have more following at once (so a watcher can wait
   * for the newest before it reads any).
   */
  watch(onChange: (change: { name: string; deleted: boolean; more: boolean }) => void): () => void;
  /** Releases the connection (the objects stay). */
  close(): Promise<void>;
}

export interface Transport {
  /** Binds a reply socket; `onRequest` is called for every message received, with the sender's identity. */
  bindReply(
    endpoint: Endpoint,
    onRequest: (peer: PeerId, frames: Frame[]) => void,
    options?: ReplySocketOptions,
  ): Promise<ReplySocket>;
  /** Connects a request socket; `onReply` is called for every message received from the server. */
  connectRequest(
    endpoint: Endpoint,
    onReply: (frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): RequestSocket;
  /** Binds a publish socket; `onSubscribe` is called each time a subscriber subscribes to a topic (late joiners). */
  bindPublish(
    endpoint: Endpoint,
    onSubscribe?: (topic: string) => void,
    options?: SocketOptions,
  ): Promise<PublishSocket>;
  /** Connects a subscribe socket for `topics`; `onMessage` receives every message published under them. */
  connectSubscribe(
    endpoint: Endpoint,
    topics: readonly string[],
    onMessage: (topic: string, frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): SubscribeSocket;
  /**
   * Opens (creating it when needed) the journal `name` of the service at `endpoint`; only transports with durable
   * storage have it (NATS, with JetStream). `stream` names the storage, when given.
   */
  openJournal?(endpoint: Endpoint, name: string, options: JournalOptions & { stream?: string }): Promise<Journal>;
  /**
   * Opens the existing journal `name` of the service at `endpoint` for reading (see {@link JournalReader}); only
   * transports with durable storage have it (NATS, with JetStream).
   */
  readJournal?(endpoint: Endpoint, name: string, options: JournalReadOptions): Promise<JournalReader>;
  /**
   * Opens the object bucket `name` of the service at `endpoint` (`create`: making it when missing; otherwise a missing
   * bucket is an error); only transports with durable storage have it (NATS, with JetStream). `bucket` names the
   * storage, when given.
   */
  openBlobStore?(endpoint: Endpoint, name: string, options: { create: boolean; bucket?: string }): Promise<BlobStore>;
}
