/**
 * The connection of a ZeroMQ client socket (DEALER or SUB), as the ZeroMQ transport reports it: status from the
 * socket's monitor events, refusals of its security as {@link AuthenticationError}s, and the reconnects that libzmq
 * does not make after a refused handshake.
 *
 * What libzmq 4.3 reports to a client (found by experiment, see test/security.test.ts):
 * - a client key the server's ZAP handler refuses: `handshake:error:auth` (status 400), then libzmq stops connecting;
 * - CURVE on one side only: `handshake:error:protocol` with `ERR_ZMTP_MECHANISM_MISMATCH`, then libzmq stops;
 * - a wrong server public key: the server cannot decrypt the client's HELLO and drops the connection, so the client
 *   sees `handshake:error:other` (EPIPE) on every attempt and libzmq keeps retrying.
 *
 * @module
 */
import type * as zmq from 'zeromq';
import { DEFAULT_RECONNECT_MAX_MS, DEFAULT_RECONNECT_MS } from '../../core/defaults.js';
import { AuthenticationError } from '../../core/errors.js';
import type { ResolvedClientSecurity } from '../curve-keys.js';
import type { ConnectionStatus } from '../types.js';

/** Handshakes of a CURVE client that the server dropped without a reason before the client reports a wrong server
 * key (the first may be a server that stopped in the middle of a handshake). */
const DROPPED_HANDSHAKES_BEFORE_AUTH_FAILURE = 2;

/**
 * The connection of a client socket: its status from the socket's monitor events, refusals of its security, and the
 * reconnects that libzmq does not make after a refused handshake. The transport's client sockets extend it.
 */
export class ClientLink {
  /** Current connection status. */
  status: ConnectionStatus = 'reconnecting';
  /** Why the server refused the connection, while {@link status} is `'unauthorized'`. */
  authFailure: AuthenticationError | undefined;
  private dropped = 0;
  private retryMs = DEFAULT_RECONNECT_MS;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: zmq.Dealer | zmq.Subscriber,
    private readonly endpoint: string,
    private readonly security: ResolvedClientSecurity | undefined,
    private readonly onStatus: ((s: ConnectionStatus) => void) | undefined,
  ) {
    const events = socket.events;
    events.on('handshake', () => {
      this.dropped = 0;
      this.retryMs = DEFAULT_RECONNECT_MS;
      this.authFailure = undefined;
      this.set('connected');
    });
    // While unauthorized, a disconnect or retry is the background retry: the status stays until a handshake succeeds.
    events.on('disconnect', () => {
      if (this.status !== 'unauthorized') this.set('disconnected');
    });
    events.on('connect:retry', () => {
      if (this.status !== 'unauthorized') this.set('reconnecting');
    });
    events.on('handshake:error:auth', () => {
      const key = this.security ? ` (this client's public key: ${this.security.keyPair.publicKey})` : '';
      this.refused(`the server at ${endpoint} refused this client's key${key}: add it to the server's allowedClients`);
      this.retryLater();
    });
    events.on('handshake:error:protocol', (e) => {
      const code = e.error.code;
      if (code === 'ERR_ZMTP_MECHANISM_MISMATCH') {
        this.refused(
          this.security
            ? `the server at ${endpoint} does not use CURVE security, but this client does: give the server security options, or drop them here`
            : `the server at ${endpoint} requires CURVE security: give this client security: { serverPublicKey }`,
        );
      } else if (code === 'ERR_ZMTP_CRYPTOGRAPHIC' || code?.startsWith('ERR_ZAP_')) {
        this.refused(`the CURVE handshake with ${endpoint} failed (${code}): check both key pairs`);
      }
      // libzmq gives up on a connection after any protocol error in the handshake: keep trying.
      this.retryLater();
    });
    events.on('handshake:error:other', () => {
      // A CURVE server drops a client whose HELLO it cannot decrypt, that is, one given the wrong server key.
      if (this.security && ++this.dropped >= DROPPED_HANDSHAKES_BEFORE_AUTH_FAILURE) {
        this.refused(
          `the server at ${endpoint} dropped the CURVE handshake ${this.dropped} times in a row: the server public ` +
            `key given to this client (${this.security.serverPublicKey}) is probably not the server's`,
        );
      }
    });
  }

  /** True when the connection uses CURVE. */
  get secure(): boolean {
    return this.security !== undefined;
  }

  private set(s: ConnectionStatus): void {
    if (this.status === 'closed' || this.status === s) return;
    this.status = s;
    this.onStatus?.(s);
  }

  private refused(message: string): void {
    if (this.status === 'closed') return;
    this.authFailure = new AuthenticationError(message);
    this.set('unauthorized');
  }

  /** Connects again after a refused handshake, with backoff up to {@link DEFAULT_RECONNECT_MAX_MS}. */
  private retryLater(): void {
    if (this.retryTimer || this.status === 'closed') return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, DEFAULT_RECONNECT_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.status === 'closed' || this.socket.closed) return;
      try {
        this.socket.disconnect(this.endpoint);
      } catch {
        // Already gone with the refused connection.
      }
      try {
        this.socket.connect(this.endpoint);
      } catch {
        // Closed meanwhile.
      }
    }, wait);
    this.retryTimer.unref();
  }

  /** Stops retrying and reports `'closed'` (subclasses close the socket first). */
  close(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.set('closed');
  }
}
