/**
 * The types every layer shares: frames, addresses and endpoints, peer identities, connection status.
 *
 * @module
 */

/** One frame of a message: frame 0 holds the msgpack header, the others raw bytes (docs/protocol.md). */
export type Frame = Uint8Array;

/** A host and a port. `port` 0 asks the system for a free port when binding. */
export interface Address {
  host: string;
  port: number;
}

/**
 * A parsed endpoint URL: where a server listens or a client connects. The scheme picks the transport
 * (`tcp://` ZeroMQ, `inproc://` in-process, and the schemes other transports register).
 */
export interface Endpoint extends Address {
  /** The URL as given (normalised by `URL`). */
  readonly url: string;
  /** The scheme, without `:` (`tcp`, `inproc`, `ws`, ...). */
  readonly scheme: string;
  /** The path, `''` when the URL has none (`/edgeml` for `ws://host:8080/edgeml`). */
  readonly path: string;
}

/** Opaque identity of a connected request peer, as seen by a reply socket. */
export type PeerId = Uint8Array;

/**
 * Connection status of a client-side connection. `'unauthorized'`: the server refused the connection's security (a
 * client key it does not allow, a wrong server key, CURVE on one side only; the socket's `authFailure` says which).
 * The client goes on retrying in the background, since keys may be fixed on the server, and becomes `'connected'`
 * once a handshake succeeds; until then it stays `'unauthorized'`.
 */
export type ConnectionStatus = 'connected' | 'disconnected' | 'reconnecting' | 'unauthorized' | 'closed';
