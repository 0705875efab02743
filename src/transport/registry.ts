/**
 * Transports by scheme: the URL's scheme picks the implementation, loaded (a dynamic `import()`) only when a server
 * or client first uses that scheme, so a program that never uses `tcp://` never loads the `zeromq` native addon, and
 * a bundle for the browser holds no transport it does not use. Modes and messaging see only this file and `types.ts`.
 *
 * Built in: `tcp` (ZeroMQ), `ws` and `wss` (WebSocket) and `inproc` (in-process). Other transports register their schemes with
 * {@link registerScheme} when their entry point is imported (`edgeml/nats`, for example).
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { Endpoint } from '../core/types.js';
import {
  type ClientSecurity,
  resolveClientSecurity,
  resolveServerSecurity,
  type ServerSecurity,
} from './curve-keys.js';
import { DeferredTransport } from './deferred.js';
import type { Transport } from './types.js';
import {
  checkWsClientOptions,
  checkWsServerOptions,
  type WsClientOptions,
  type WsServerOptions,
} from './ws-options.js';

/** What a transport is made for: one server's or one client's side, with that server's or client's options. */
export interface TransportContext {
  /** Which side the transport serves. */
  readonly side: 'server' | 'client';
  /** The server's or client's options (a transport reads its own: `security` for ZeroMQ CURVE, ...). */
  readonly options: Readonly<Record<string, unknown>>;
}

/** How a scheme's transport is made. */
export interface SchemeEntry {
  /**
   * `true` when a server's stream (observations, weights) is served on its request endpoint, one connection
   * carrying both (WebSocket, NATS); `false` when the stream listens on the mode's own broadcast port (ZeroMQ).
   */
  readonly sharedStream: boolean;
  /**
   * Checks the options at once (so a bad key file fails the constructor, not a later call) and returns the loader
   * that imports the implementation and makes the transport.
   * @throws {@link InvalidArgumentError} naming a bad option
   */
  prepare(context: TransportContext): () => Promise<Transport>;
}

function zmqSecurity(context: TransportContext): ServerSecurity | ClientSecurity | undefined {
  const security = context.options.security as ServerSecurity | ClientSecurity | undefined;
  if (security === undefined) return undefined;
  if (context.side === 'server') resolveServerSecurity(security as ServerSecurity, 'security');
  else resolveClientSecurity(security as ClientSecurity, 'security');
  return security;
}

/** The `ws` option of a server or client, checked now (a bad one fails the constructor). */
function checkWsOptions(context: TransportContext): WsServerOptions | WsClientOptions {
  const ws = context.options.ws;
  return context.side === 'server' ? checkWsServerOptions(ws) : checkWsClientOptions(ws);
}

const schemes = new Map<string, SchemeEntry>([
  [
    'tcp',
    {
      sharedStream: false,
      prepare(context) {
        const security = zmqSecurity(context);
        return async () => {
          const { ZmqTransport } = await import('./zmq/zmq-transport.js');
          if (security === undefined) return new ZmqTransport();
          return context.side === 'server'
            ? new ZmqTransport({ server: security as ServerSecurity })
            : new ZmqTransport({ client: security as ClientSecurity });
        };
      },
    },
  ],
  ...(['ws', 'wss'] as const).map((scheme): [string, SchemeEntry] => [
    scheme,
    {
      sharedStream: true,
      prepare(context) {
        const ws = checkWsOptions(context);
        return async () => {
          const { WsTransport } = await import('./ws/ws-transport.js');
          return new WsTransport(
            context.side === 'server' ? { server: ws as WsServerOptions } : { client: ws as WsClientOptions },
          );
        };
      },
    },
  ]),
  [
    'inproc',
    {
      sharedStream: false,
      prepare() {
        return async () => (await import('./inproc/inproc-transport.js')).defaultInprocTransport();
      },
    },
  ],
]);

/**
 * Registers (or replaces) the transport of `scheme`. Transports outside the core call this when their entry point is
 * imported.
 */
export function registerScheme(scheme: string, entry: SchemeEntry): void {
  schemes.set(scheme.toLowerCase(), entry);
}

/** The schemes that have a transport. */
export function knownSchemes(): string[] {
  return [...schemes.keys()];
}

/**
 * The entry of the endpoint's scheme.
 * @throws {@link InvalidArgumentError} for a scheme no transport serves, naming the known ones
 */
export function schemeEntry(endpoint: Endpoint, field = 'endpoint'): SchemeEntry {
  const entry = schemes.get(endpoint.scheme);
  if (entry) return entry;
  const hint = endpoint.scheme === 'nats' ? " (import 'edgeml/nats' to add it)" : '';
  throw new InvalidArgumentError(
    field,
    `no transport for ${endpoint.scheme}:// URLs${hint}; known schemes: ${knownSchemes().join(', ')}`,
  );
}

/**
 * The transports of one server or client: one per scheme, made on first use and shared by its sockets (so a server's
 * request and stream sockets on one WebSocket endpoint share the listener). An injected `transport` option serves
 * every scheme.
 */
export class TransportSet {
  private readonly bySchema = new Map<string, Transport>();
  private readonly injected: Transport | undefined;

  /** @throws {@link InvalidArgumentError} when both `transport` and `security` are given */
  constructor(private readonly context: TransportContext) {
    const injected = context.options.transport as Transport | undefined;
    if (injected !== undefined && context.options.security !== undefined) {
      throw new InvalidArgumentError(
        'security',
        'give either transport or security, not both (a ZmqTransport takes it)',
      );
    }
    this.injected = injected;
  }

  /** Whether the endpoint's stream shares its request endpoint (see {@link SchemeEntry.sharedStream}). */
  sharedStream(endpoint: Endpoint): boolean {
    if (this.injected && !schemes.has(endpoint.scheme)) return false;
    return schemeEntry(endpoint).sharedStream;
  }

  /**
   * The transport of the endpoint's scheme; checks its options at once.
   * @throws {@link InvalidArgumentError} for an unknown scheme or a bad option
   */
  get(endpoint: Endpoint, field = 'endpoint'): Transport {
    if (this.injected) return this.injected;
    let t = this.bySchema.get(endpoint.scheme);
    if (!t) {
      const load = schemeEntry(endpoint, field).prepare(this.context);
      t = new DeferredTransport(endpoint.scheme, load);
      this.bySchema.set(endpoint.scheme, t);
    }
    return t;
  }
}
