/**
 * The options every mode's servers and clients share, the endpoints they listen on or connect to, and the mapping of
 * those options onto the rpc and broadcast layers.
 *
 * @module
 */

import { DEFAULT_BIND_HOST } from '../core/defaults.js';
import { parseEndpoint, tcpEndpoint, withPort } from '../core/endpoint.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { ConnectionStatus, Endpoint } from '../core/types.js';
import type { ClientSecurity, ServerSecurity } from '../transport/curve-keys.js';
import type { NatsOptions } from '../transport/nats-options.js';
import { TransportSet } from '../transport/registry.js';
import type { Transport } from '../transport/types.js';
import type { WsClientOptions, WsServerOptions } from '../transport/ws-options.js';
import type { DecodeLimits, EncodeOptions } from '../wire/codec.js';
import type { PublisherOptions, SubscriberOptions } from './broadcast.js';
import type { RpcClientOptions } from './rpc-client.js';
import type { Binding, RpcServerOptions } from './rpc-server.js';

/** Options every server (inference, action, trainer) takes. */
export interface ServerOptions {
  /**
   * Endpoint URLs to listen on, one or several (`'tcp://0.0.0.0:5555'`, `'inproc://gpu'`, and the schemes of other
   * transports): the same interfaces, tables and streams are served on all of them. Without it the server listens
   * on `tcp://host:port`, from `host` and the mode's port.
   */
  listen?: string | readonly string[];
  /** Interface to bind when `listen` is not given. @default {@link DEFAULT_BIND_HOST} (loopback: pass `'0.0.0.0'`
   * to serve other machines) */
  host?: string;
  /** Transport to use for every endpoint instead of the one its scheme picks (tests, custom transports). */
  transport?: Transport;
  /** CURVE security of every ZeroMQ socket of the server: its key pair and, optionally, the client keys it accepts
   * (docs/security.md). Not together with `transport`. @default none (plain TCP) */
  security?: ServerSecurity;
  /** Options of `nats://` endpoints (`import 'edgeml/nats'`): credentials, TLS, subject prefix (docs/security.md). */
  nats?: NatsOptions;
  /** Limits on incoming messages. */
  limits?: DecodeLimits;
  /** Encoding options of replies and published messages. */
  encode?: EncodeOptions;
  /** Requests one client may have running at once; more are answered with a `LimitError`.
   * @default {@link DEFAULT_MAX_IN_FLIGHT_PER_CLIENT} */
  maxInFlightPerClient?: number;
  /** Longest a callback may run before its call is abandoned (its `signal` aborts, the caller gets a
   * `TimeoutError`). @default {@link DEFAULT_HANDLER_TIMEOUT_MS} */
  handlerTimeoutMs?: number;
  /** Heartbeat interval in ms: a peer silent for 3 intervals counts as gone. @default {@link DEFAULT_HEARTBEAT_MS} */
  heartbeatMs?: number;
  /** Clients served at once; requests from more are answered with a `LimitError`. @default {@link DEFAULT_MAX_CLIENTS} */
  maxClients?: number;
  /** Options of the `ws://` and `wss://` endpoints: TLS, tokens, allowed origins, client and send limits
   * (docs/security.md). @default plain `ws://`, no token, any origin */
  ws?: WsServerOptions;
}

/** Options every client (inference, action, trainer) takes. */
export interface ClientOptions {
  /** Transport to use instead of the one the target's scheme picks (tests, custom transports). */
  transport?: Transport;
  /** CURVE security of every ZeroMQ connection of the client: the server's public key and, optionally, this
   * client's key pair (docs/security.md). Not together with `transport`. @default none (plain TCP) */
  security?: ClientSecurity;
  /** Options of a `nats://` target (`import 'edgeml/nats'`): credentials, TLS, subject prefix (docs/security.md). */
  nats?: NatsOptions;
  /** Default deadline of each call in ms (a call's own `timeoutMs` wins). @default {@link DEFAULT_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Deadline of the handshake in ms, in the modes that have one (action, trainer).
   * @default {@link DEFAULT_CONNECT_TIMEOUT_MS} */
  connectTimeoutMs?: number;
  /** Limits on replies and received broadcasts. */
  limits?: DecodeLimits;
  /** Encoding options of payloads. */
  encode?: EncodeOptions;
  /** Heartbeat interval in ms: a peer silent for 3 intervals counts as gone. @default {@link DEFAULT_HEARTBEAT_MS} */
  heartbeatMs?: number;
  /** Called on every status change of the request connection (see also `statusEvents()`). */
  onStatus?: (status: ConnectionStatus) => void;
  /** Options of a `ws://` or `wss://` connection: the token, trusted certificates (docs/security.md). */
  ws?: WsClientOptions;
}

type Defined<T, K extends keyof T> = { [P in K]?: Exclude<T[P], undefined> };

/** The fields `keys` of `from` that are set (so that optional properties stay absent, never `undefined`). */
function defined<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Defined<T, K> {
  const out: Partial<Record<K, unknown>> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out as Defined<T, K>;
}

/** The rpc server options of a mode server. */
export function rpcServerOptions(o: ServerOptions): RpcServerOptions {
  return defined(o, ['limits', 'encode', 'maxInFlightPerClient', 'handlerTimeoutMs', 'heartbeatMs', 'maxClients']);
}

/** The publisher options of a mode server. */
export function publisherOptions(o: ServerOptions): PublisherOptions {
  return defined(o, ['encode', 'heartbeatMs']);
}

/** The rpc client options of a mode client. */
export function rpcClientOptions(o: ClientOptions): RpcClientOptions {
  return defined(o, ['limits', 'encode', 'heartbeatMs', 'onStatus', 'timeoutMs']);
}

/** The subscriber options of a mode client (queue size and error callback come from the mode). */
export function subscriberOptions(o: ClientOptions): SubscriberOptions {
  return defined(o, ['limits', 'heartbeatMs']);
}

/** Checks a port option: an integer in 0..65535 (0: any free port, for servers) or 1..65535 (clients). */
export function checkPort(field: string, value: unknown, allowZero: boolean): number {
  const min = allowZero ? 0 : 1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 65535) {
    const range = allowZero ? 'an integer in 0..65535 (0: any free port)' : 'an integer in 1..65535';
    throw new InvalidArgumentError(field, `must be ${range}, got ${String(value)}`);
  }
  return value;
}

/**
 * Where one server listens: its request endpoints, and where its stream goes (the same endpoint for transports that
 * carry both on one connection, the mode's broadcast port otherwise).
 */
export class ServerEndpoints {
  private readonly transports: TransportSet;
  /** The request endpoints, in the order given. */
  readonly endpoints: readonly Endpoint[];

  /**
   * @param port the mode's request port, used when `options.listen` is not given
   * @throws {@link InvalidArgumentError} for a bad URL, an unknown scheme or a bad transport option
   */
  constructor(options: ServerOptions, port: number) {
    this.transports = new TransportSet({ side: 'server', options: options as Record<string, unknown> });
    const listen = options.listen;
    if (listen === undefined) {
      this.endpoints = [tcpEndpoint(options.host ?? DEFAULT_BIND_HOST, checkPort('port', port, true))];
    } else {
      if (options.host !== undefined) throw new InvalidArgumentError('host', 'give either listen or host, not both');
      const urls = typeof listen === 'string' ? [listen] : [...listen];
      if (urls.length === 0) throw new InvalidArgumentError('listen', 'must name at least one endpoint');
      this.endpoints = urls.map((u, i) => parseEndpoint(u, typeof listen === 'string' ? 'listen' : `listen[${i}]`));
    }
    // Checks every scheme and transport option now, so a bad one fails the constructor.
    for (const e of this.endpoints) this.transports.get(e, 'listen');
  }

  /** The request bindings, with `port` in place of the port of `tcp://` endpoints from `host` and `port`. */
  rpc(): Binding[] {
    return this.endpoints.map((endpoint) => ({ transport: this.transports.get(endpoint), endpoint }));
  }

  /**
   * Index, among {@link stream}'s bindings, of the first one on the mode's broadcast port (a transport that does not
   * share the request endpoint); `undefined` when every endpoint carries its stream itself (then the broadcast port
   * is not used at all).
   */
  broadcastPortIndex(): number | undefined {
    const i = this.endpoints.findIndex((e) => !this.transports.sharedStream(e));
    return i < 0 ? undefined : i;
  }

  /** The stream bindings: each request endpoint's own when its transport shares it, else on `broadcastPort`. */
  stream(broadcastPort: number): Binding[] {
    return this.endpoints.map((e) => {
      const endpoint = this.transports.sharedStream(e) ? e : withPort(e, broadcastPort);
      return { transport: this.transports.get(endpoint), endpoint };
    });
  }
}

/** Where one client connects: its request endpoint and the transport for it. */
export class ClientEndpoint {
  /** The request endpoint. */
  readonly endpoint: Endpoint;
  /** The transport for it. */
  readonly transport: Transport;
  private readonly transports: TransportSet;

  /**
   * @param target a URL (`tcp://gpu-box:5555`, `inproc://gpu`), or a host name with `port`
   * @param port the mode's request port: the port of a host name target, and of a `tcp://` URL without one
   * @throws {@link InvalidArgumentError} for a bad target, an unknown scheme or a bad transport option
   */
  constructor(target: string, port: number | undefined, options: ClientOptions) {
    if (typeof target !== 'string' || target.length === 0) {
      throw new InvalidArgumentError('host', 'must be a host name or an endpoint URL');
    }
    this.transports = new TransportSet({ side: 'client', options: options as Record<string, unknown> });
    if (target.includes('://')) {
      const parsed = parseEndpoint(target, 'target');
      this.endpoint =
        parsed.scheme === 'tcp' && parsed.port === 0 && port !== undefined
          ? withPort(parsed, checkPort('port', port, false))
          : parsed;
      if (this.endpoint.scheme === 'tcp') checkPort('port', this.endpoint.port, false);
    } else {
      if (port === undefined) throw new InvalidArgumentError('port', 'a host name needs a port');
      this.endpoint = tcpEndpoint(target, checkPort('port', port, false));
    }
    this.transport = this.transports.get(this.endpoint, 'target');
  }

  /** Whether the stream travels on the request endpoint's connection (then the broadcast port is not used). */
  get sharedStream(): boolean {
    return this.transports.sharedStream(this.endpoint);
  }

  /** The stream endpoint: the request endpoint itself when its transport shares it, else on `broadcastPort`. */
  stream(broadcastPort: number): { transport: Transport; endpoint: Endpoint } {
    if (this.transports.sharedStream(this.endpoint)) return { transport: this.transport, endpoint: this.endpoint };
    const endpoint = withPort(this.endpoint, checkPort('broadcastPort', broadcastPort, false));
    return { transport: this.transports.get(endpoint), endpoint };
  }
}
