/**
 * Options of the WebSocket transport, as servers (`ws` in `ServerOptions`) and clients (`ws` in `ClientOptions`)
 * give them, and their checks. No Node built-ins: the browser bundle includes this file.
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';

/** A TLS certificate or key: PEM text or its bytes. */
export type PemSource = string | Uint8Array;

/** WebSocket options of a server (`new InferenceServer({ listen: 'ws://...', ws: { ... } })`). */
export interface WsServerOptions {
  /**
   * An `http.Server` or `https.Server` of yours to serve the WebSocket endpoints on (its `upgrade` requests to the
   * endpoints' paths); it must be listening, or listen soon, on the endpoint's port. Without it the transport makes
   * its own server: `https` when `key` and `cert` are given (required for `wss://`), plain `http` otherwise.
   */
  server?: unknown;
  /** TLS private key for `wss://` (PEM). */
  key?: PemSource;
  /** TLS certificate chain for `wss://` (PEM). */
  cert?: PemSource;
  /**
   * Tokens a client must present (in the `Sec-WebSocket-Protocol` header, see docs/security.md). A client without
   * one of them is closed at once with code 4401. @default no token needed
   */
  tokens?: readonly string[];
  /** Checks a client's token instead of (or besides) `tokens`; a throw or rejection refuses the client. */
  verifyToken?: (token: string) => boolean | Promise<boolean>;
  /**
   * `Origin` header values allowed (`'https://app.example.com'`); a browser page from another origin is closed at
   * once with code 4403. Clients that send no `Origin` (programs, not browsers) are not affected.
   * @default any origin
   */
  allowedOrigins?: readonly string[];
  /** Connections served at once; an upgrade beyond it is refused (HTTP 503). @default 1024 (`DEFAULT_WS_MAX_CLIENTS`) */
  maxClients?: number;
  /**
   * Bytes waiting to be written to one client beyond which the server holds back: stream messages to that client
   * are dropped oldest first (the latest of each topic is kept and sent once it drains) and its requests are not
   * read until it drains. @default 16 MiB (`DEFAULT_WS_SEND_BUDGET_BYTES`)
   */
  sendBudgetBytes?: number;
}

/** WebSocket options of a client (`await InferenceClient.connect('ws://...', { ws: { ... } })`). */
export interface WsClientOptions {
  /** Token presented to the server (carried in the `Sec-WebSocket-Protocol` header, never in the URL). */
  token?: string;
  /**
   * The `WebSocket` class to use. @default the global `WebSocket` (browsers, Node ≥ 22), else the `ws` package's
   */
  WebSocket?: unknown;
  /** Node only (uses the `ws` package): CA certificates to trust for `wss://` (a self-signed server's cert). */
  ca?: PemSource | readonly PemSource[];
  /** Node only (uses the `ws` package): `false` accepts any server certificate (tests only). @default true */
  rejectUnauthorized?: boolean;
}

function isPem(v: unknown): boolean {
  return typeof v === 'string' || v instanceof Uint8Array;
}

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(`ws.${field}`, message);
}

/**
 * Checks a server's `ws` option.
 * @throws {@link InvalidArgumentError} naming the bad field
 */
export function checkWsServerOptions(o: unknown): WsServerOptions {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('ws', 'must be an object');
  const w = o as WsServerOptions;
  if (w.server !== undefined && (typeof w.server !== 'object' || w.server === null || !('on' in w.server))) {
    fail('server', 'must be an http.Server or https.Server');
  }
  if (w.key !== undefined && !isPem(w.key)) fail('key', 'must be PEM text or bytes');
  if (w.cert !== undefined && !isPem(w.cert)) fail('cert', 'must be PEM text or bytes');
  if ((w.key === undefined) !== (w.cert === undefined)) fail(w.key ? 'cert' : 'key', 'give both key and cert');
  if (w.server !== undefined && w.key !== undefined) fail('key', 'give either server or key and cert, not both');
  if (w.tokens !== undefined) {
    if (!Array.isArray(w.tokens) || w.tokens.some((t) => typeof t !== 'string' || t.length === 0)) {
      fail('tokens', 'must be an array of non-empty strings');
    }
  }
  if (w.verifyToken !== undefined && typeof w.verifyToken !== 'function') fail('verifyToken', 'must be a function');
  if (w.allowedOrigins !== undefined) {
    if (!Array.isArray(w.allowedOrigins) || w.allowedOrigins.some((t) => typeof t !== 'string')) {
      fail('allowedOrigins', 'must be an array of origins such as https://app.example.com');
    }
  }
  for (const k of ['maxClients', 'sendBudgetBytes'] as const) {
    const v = w[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) fail(k, 'must be a positive integer');
  }
  return w;
}

/**
 * Checks a client's `ws` option.
 * @throws {@link InvalidArgumentError} naming the bad field
 */
export function checkWsClientOptions(o: unknown): WsClientOptions {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('ws', 'must be an object');
  const w = o as WsClientOptions;
  if (w.token !== undefined && (typeof w.token !== 'string' || w.token.length === 0)) {
    fail('token', 'must be a non-empty string');
  }
  if (w.WebSocket !== undefined && typeof w.WebSocket !== 'function') fail('WebSocket', 'must be a class');
  if (w.ca !== undefined && !(isPem(w.ca) || (Array.isArray(w.ca) && w.ca.every(isPem)))) {
    fail('ca', 'must be PEM text or bytes, or an array of them');
  }
  if (w.rejectUnauthorized !== undefined && typeof w.rejectUnauthorized !== 'boolean') {
    fail('rejectUnauthorized', 'must be a boolean');
  }
  return w;
}
