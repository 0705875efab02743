/**
 * The options of the NATS transport (`nats://` endpoints, entry point `edgeml/nats`), as servers and clients take
 * them in their `nats` option. Kept outside `transport/nats/` so that the mode options can name the type without
 * loading the transport (or nats.js).
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';

/** TLS of the connection to the NATS server, passed to nats.js as is (file paths are read by nats.js). */
export interface NatsTlsOptions {
  /** CA certificate(s) the NATS server's certificate must chain to (PEM file). */
  caFile?: string;
  /** Client certificate (PEM file), for servers that verify clients (`verify: true`). */
  certFile?: string;
  /** Key of the client certificate (PEM file). */
  keyFile?: string;
  /** The same as PEM text. */
  ca?: string;
  cert?: string;
  key?: string;
  /** TLS before the NATS INFO (servers with `handshake_first`). */
  handshakeFirst?: boolean;
}

/** Options of every `nats://` endpoint of one server or client (docs/security.md, "NATS"). */
export interface NatsOptions {
  /**
   * First subject token of everything this deployment sends: two fleets on one NATS server use different prefixes
   * (and NATS permissions can be written per prefix). One or more tokens of `[A-Za-z0-9_-]`, dot-separated.
   * @default 'edgeml'
   */
  prefix?: string;
  /** User and password (NATS `authorization { user, password }` or an account's users). */
  user?: string;
  pass?: string;
  /** Token authentication. */
  token?: string;
  /** Decentralised auth: the contents of a `.creds` file (user JWT and nkey seed). */
  creds?: string | Uint8Array;
  /** Decentralised auth: the path of a `.creds` file (read when connecting). */
  credsFile?: string;
  /** Nkey authentication: the user's seed (`SU...`). */
  nkeySeed?: string | Uint8Array;
  /** TLS of the connection to the NATS server. */
  tls?: NatsTlsOptions;
  /** Connection name shown by the NATS server's monitoring. @default 'edgeml' */
  name?: string;
  /**
   * Largest NATS message this side sends, in bytes: larger edgeml messages are split into chunks. Capped by the
   * server's advertised `max_payload`. @default the server's `max_payload`
   */
  chunkBytes?: number;
  /** Longest wait between two chunks of one message before its reassembly is dropped, in ms. @default 10000 */
  reassemblyTimeoutMs?: number;
  /** Further nats.js `ConnectionOptions`, passed through unchecked (they win over the fields above). */
  connection?: Readonly<Record<string, unknown>>;
}

/** A subject prefix: dot-separated tokens of letters, digits, `_` and `-`. */
const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Default deployment prefix of the NATS subjects. */
export const DEFAULT_NATS_PREFIX = 'edgeml';

/**
 * Checks the `nats` option of a server or client.
 * @throws {@link InvalidArgumentError} naming the bad field
 */
export function checkNatsOptions(value: unknown, field = 'nats'): NatsOptions {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(field, 'must be an object');
  const o = value as NatsOptions;
  if (o.prefix !== undefined && (typeof o.prefix !== 'string' || !PREFIX.test(o.prefix))) {
    throw new InvalidArgumentError(`${field}.prefix`, 'must be dot-separated tokens of [A-Za-z0-9_-]');
  }
  for (const k of ['user', 'pass', 'token', 'credsFile', 'name'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string')
      throw new InvalidArgumentError(`${field}.${k}`, 'must be a string');
  }
  if (o.chunkBytes !== undefined && !(Number.isInteger(o.chunkBytes) && o.chunkBytes >= 1024)) {
    throw new InvalidArgumentError(`${field}.chunkBytes`, 'must be an integer of at least 1024');
  }
  if (o.reassemblyTimeoutMs !== undefined && !(o.reassemblyTimeoutMs > 0)) {
    throw new InvalidArgumentError(`${field}.reassemblyTimeoutMs`, 'must be a positive number');
  }
  const auths = [o.token, o.creds ?? o.credsFile, o.nkeySeed, o.user].filter((x) => x !== undefined).length;
  if (auths > 1) throw new InvalidArgumentError(field, 'give one of user/pass, token, creds/credsFile, nkeySeed');
  return o;
}
