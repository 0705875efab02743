/**
 * The options every mode's servers and clients share, and their mapping onto the rpc and broadcast layers.
 *
 * @module
 */

import type { ClientSecurity, ServerSecurity } from '../transport/curve-keys.js';
import type { ConnectionStatus, Transport } from '../transport/types.js';
import type { DecodeLimits, EncodeOptions } from '../wire/codec.js';
import type { PublisherOptions, SubscriberOptions } from './broadcast.js';
import type { RpcClientOptions } from './rpc-client.js';
import type { RpcServerOptions } from './rpc-server.js';

/** Options every server (inference, action, trainer) takes. */
export interface ModeServerOptions {
  /** Interface to bind. @default {@link DEFAULT_BIND_HOST} (loopback: pass `'0.0.0.0'` to serve other machines) */
  host?: string;
  /** Transport. @default a {@link ZmqTransport} */
  transport?: Transport;
  /** CURVE security of every port of the server: its key pair and, optionally, the client keys it accepts
   * (docs/security.md). Not together with `transport`. @default none (plain TCP) */
  security?: ServerSecurity;
  /** Limits on incoming messages. */
  limits?: DecodeLimits;
  /** Encoding options of replies and published messages. */
  encode?: EncodeOptions;
  /** Requests one client may have running at once; more are answered with a `LimitError`.
   * @default {@link DEFAULT_MAX_IN_FLIGHT_PER_CLIENT} */
  maxInFlightPerClient?: number;
  /** ZMTP heartbeat interval in ms: a peer silent for 3 intervals counts as gone. @default {@link DEFAULT_HEARTBEAT_MS} */
  heartbeatMs?: number;
}

/** Options every client (inference, action, trainer) takes. */
export interface ModeClientOptions {
  /** Transport. @default a {@link ZmqTransport} */
  transport?: Transport;
  /** CURVE security of every connection of the client: the server's public key and, optionally, this client's key
   * pair (docs/security.md). Not together with `transport`. @default none (plain TCP) */
  security?: ClientSecurity;
  /** Limits on replies and received broadcasts. */
  limits?: DecodeLimits;
  /** Encoding options of payloads. */
  encode?: EncodeOptions;
  /** ZMTP heartbeat interval in ms: a peer silent for 3 intervals counts as gone. @default {@link DEFAULT_HEARTBEAT_MS} */
  heartbeatMs?: number;
  /** Called on every status change of the request connection (see also `statusEvents()`). */
  onStatus?: (status: ConnectionStatus) => void;
}

type Defined<T, K extends keyof T> = { [P in K]?: Exclude<T[P], undefined> };

/** The fields `keys` of `from` that are set (so that optional properties stay absent, never `undefined`). */
function defined<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Defined<T, K> {
  const out: Partial<Record<K, unknown>> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out as Defined<T, K>;
}

/** The rpc server options of a mode server. */
export function rpcServerOptions(o: ModeServerOptions): RpcServerOptions {
  return defined(o, ['limits', 'encode', 'maxInFlightPerClient', 'heartbeatMs']);
}

/** The publisher options of a mode server. */
export function publisherOptions(o: ModeServerOptions): PublisherOptions {
  return defined(o, ['encode', 'heartbeatMs']);
}

/** The rpc client options of a mode client, with its default call deadline. */
export function rpcClientOptions(o: ModeClientOptions, timeoutMs: number | undefined): RpcClientOptions {
  return {
    ...defined(o, ['limits', 'encode', 'heartbeatMs', 'onStatus']),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  };
}

/** The subscriber options of a mode client (queue size and error callback come from the mode). */
export function subscriberOptions(o: ModeClientOptions): SubscriberOptions {
  return defined(o, ['limits', 'heartbeatMs']);
}
