/**
 * A transport whose implementation is still loading (the dynamic `import()` of its scheme's module): binds wait for
 * it, and client sockets exist at once, holding what is sent until the real socket is there. Once loaded, every call
 * goes straight to the real transport.
 *
 * @module
 */

import type { AuthenticationError } from '../core/errors.js';
import { EdgeMLError, InvalidArgumentError } from '../core/errors.js';
import type { ConnectionStatus, Endpoint, Frame, PeerId } from '../core/types.js';
import type {
  BlobStore,
  ClientHandlers,
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
} from './types.js';

function loadError(scheme: string, e: unknown): EdgeMLError {
  if (e instanceof EdgeMLError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const missing = /Cannot find (package|module) '([^']+)'/.exec(message)?.[2];
  const hint = missing ? `: it needs the '${missing}' package (npm install ${missing})` : `: ${message}`;
  return new EdgeMLError(`cannot load the ${scheme}:// transport${hint}`, 'EDGEML_ERROR', { cause: e });
}

/** A client socket whose transport is still loading. */
class DeferredClient<S extends RequestSocket | SubscribeSocket> {
  protected real: S | undefined;
  protected closed = false;
  failure: EdgeMLError | undefined;

  constructor(loading: Promise<Transport>, connect: (t: Transport) => S, handlers: ClientHandlers | undefined) {
    loading.then(
      (t) => {
        if (this.closed) return;
        this.real = connect(t);
        this.ready();
      },
      (e: EdgeMLError) => {
        this.failure = e;
        this.ready();
        if (!this.closed) handlers?.onFailure?.(e);
      },
    );
  }

  /** Called once the real socket exists, or the load failed. */
  protected ready(): void {}

  get status(): ConnectionStatus {
    if (this.closed || this.failure) return 'closed';
    return this.real?.status ?? 'reconnecting';
  }
  get authFailure(): AuthenticationError | undefined {
    return this.real?.authFailure;
  }
  get secure(): boolean | undefined {
    return this.real?.secure;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.real?.close();
  }
}

class DeferredRequest extends DeferredClient<RequestSocket> implements RequestSocket {
  private queue: { frames: Frame[]; isStale: (() => boolean) | undefined }[] = [];
  protected override ready(): void {
    const queued = this.queue;
    this.queue = [];
    if (this.real) for (const q of queued) this.real.send(q.frames, q.isStale);
  }
  send(frames: Frame[], isStale?: () => boolean): void {
    if (this.real) this.real.send(frames, isStale);
    else if (!this.closed && !this.failure) this.queue.push({ frames, isStale });
  }
  override close(): void {
    this.queue = [];
    super.close();
  }
}

class DeferredSubscribe extends DeferredClient<SubscribeSocket> implements SubscribeSocket {}

/** See the module comment. */
export class DeferredTransport implements Transport {
  private loaded: Transport | undefined;
  private readonly loading: Promise<Transport>;

  constructor(scheme: string, load: () => Promise<Transport>) {
    this.loading = load().then(
      (t) => {
        this.loaded = t;
        return t;
      },
      (e: unknown) => {
        throw loadError(scheme, e);
      },
    );
    // Reported to whoever binds or connects; never an unhandled rejection.
    this.loading.catch(() => undefined);
  }

  /** The loaded transport's journal. @throws {@link EdgeMLError} when it keeps none */
  async openJournal(endpoint: Endpoint, name: string, options: JournalOptions & { stream?: string }): Promise<Journal> {
    const t = this.loaded ?? (await this.loading);
    if (!t.openJournal) throw new EdgeMLError(`the ${endpoint.scheme}:// transport keeps no journals`);
    return t.openJournal(endpoint, name, options);
  }

  /** The loaded transport's journal reader. @throws {@link EdgeMLError} when it keeps no journals */
  async readJournal(endpoint: Endpoint, name: string, options: JournalReadOptions): Promise<JournalReader> {
    const t = this.loaded ?? (await this.loading);
    if (!t.readJournal) {
      throw new InvalidArgumentError('endpoint', `the ${endpoint.scheme}:// transport keeps no journals (use nats://)`);
    }
    return t.readJournal(endpoint, name, options);
  }

  /** The loaded transport's object bucket. @throws {@link EdgeMLError} when it keeps none */
  async openBlobStore(
    endpoint: Endpoint,
    name: string,
    options: { create: boolean; bucket?: string },
  ): Promise<BlobStore> {
    const t = this.loaded ?? (await this.loading);
    if (!t.openBlobStore) throw new EdgeMLError(`the ${endpoint.scheme}:// transport keeps no object buckets`);
    return t.openBlobStore(endpoint, name, options);
  }

  async bindReply(
    endpoint: Endpoint,
    onRequest: (peer: PeerId, frames: Frame[]) => void,
    options?: ReplySocketOptions,
  ): Promise<ReplySocket> {
    return (this.loaded ?? (await this.loading)).bindReply(endpoint, onRequest, options);
  }

  connectRequest(
    endpoint: Endpoint,
    onReply: (frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): RequestSocket {
    if (this.loaded) return this.loaded.connectRequest(endpoint, onReply, options);
    return new DeferredRequest(this.loading, (t) => t.connectRequest(endpoint, onReply, options), options);
  }

  async bindPublish(
    endpoint: Endpoint,
    onSubscribe?: (topic: string) => void,
    options?: SocketOptions,
  ): Promise<PublishSocket> {
    return (this.loaded ?? (await this.loading)).bindPublish(endpoint, onSubscribe, options);
  }

  connectSubscribe(
    endpoint: Endpoint,
    topics: readonly string[],
    onMessage: (topic: string, frames: Frame[]) => void,
    options?: SocketOptions & ClientHandlers,
  ): SubscribeSocket {
    if (this.loaded) return this.loaded.connectSubscribe(endpoint, topics, onMessage, options);
    return new DeferredSubscribe(
      this.loading,
      (t) => t.connectSubscribe(endpoint, topics, onMessage, options),
      options,
    );
  }
}
