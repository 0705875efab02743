/**
 * The ZAP handler (ZeroMQ RFC 27) of edgeml's own ZeroMQ context (`context.ts`): it answers libzmq's authentication
 * requests for the CURVE servers of this copy of edgeml that restrict clients to a list of public keys, and for no
 * other socket of the process. Internal: the ZeroMQ transport registers a domain per bound socket and releases it
 * when the socket closes.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import * as zmq from 'zeromq';
import { EdgeMLError } from '../../core/errors.js';
import { z85Encode } from '../curve-keys.js';
import { edgemlContext } from './context.js';

const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';
/** Prefix of the ZAP domains edgeml registers; a request naming such a domain that is not registered is refused. */
const DOMAIN_PREFIX = 'edgeml-';

/**
 * The ZAP handler of edgeml's context: answers libzmq's authentication requests for CURVE servers that restrict
 * clients. Each such server registers a ZAP domain with its allowed client keys; the handler's socket exists only
 * while at least one domain is registered, so it never keeps the process alive on its own.
 *
 * While the handler is bound, libzmq asks it about every CURVE connection in edgeml's context, also those of CURVE
 * servers that set no domain (servers without an allow-list): those are accepted, as libzmq itself does when no
 * handler is bound. A domain of ours that is no longer registered is refused. Servers that register set
 * `zapEnforceDomain`, so a connection that arrives while no handler is bound fails instead of slipping through.
 */
class ZapHandler {
  private socket: zmq.Router | undefined;
  private readonly domains = new Map<string, Set<string>>();
  private nextDomain = 1;
  /** Opening and closing of the handler socket, one after the other (closing an inproc endpoint takes a moment). */
  private transition: Promise<void> = Promise.resolve();

  /** Registers allowed client keys (Z85); resolves, once the handler is listening, with the ZAP domain to set on the
   * server socket. */
  async register(allowed: readonly string[]): Promise<string> {
    const domain = `${DOMAIN_PREFIX}${process.pid}-${this.nextDomain++}`;
    this.domains.set(domain, new Set(allowed));
    try {
      await this.sync();
    } catch (e) {
      this.unregister(domain);
      throw e;
    }
    return domain;
  }

  /** Removes a domain; closes the handler socket when none is left. */
  unregister(domain: string): void {
    // A failure to open here (domains left after a failed open) is reported to the next register().
    if (this.domains.delete(domain)) this.sync().catch(() => undefined);
  }

  /** Number of registered domains (for tests and diagnostics). */
  get size(): number {
    return this.domains.size;
  }

  /** Opens or closes the handler socket to match the registered domains. */
  private sync(): Promise<void> {
    this.transition = this.transition.then(async () => {
      if (this.domains.size > 0 && !this.socket) {
        const socket = new zmq.Router({ linger: 0, context: edgemlContext() });
        try {
          await bindInproc(socket);
        } catch (e) {
          socket.close();
          throw new EdgeMLError(`cannot start the ZAP handler: ${(e as Error).message}`, 'EDGEML_ERROR', { cause: e });
        }
        this.socket = socket;
        void this.serve(socket);
      } else if (this.domains.size === 0 && this.socket) {
        const socket = this.socket;
        this.socket = undefined;
        // Unbind first: a socket only closed holds the inproc name for a while, and a new bind would fail.
        await socket.unbind(ZAP_ENDPOINT).catch(() => undefined);
        socket.close();
      }
    });
    // A failed open is reported to the register() that caused it; the next transition starts afresh.
    const current = this.transition;
    this.transition = current.catch(() => undefined);
    return current;
  }

  private decide(domain: string, mechanism: string, key: Buffer | undefined): boolean {
    const allowed = this.domains.get(domain);
    if (allowed) return mechanism === 'CURVE' && key?.length === 32 && allowed.has(z85Encode(key));
    // Not ours (no domain set: a CURVE server without an allow-list): accept, as libzmq does without a handler.
    return !domain.startsWith(DOMAIN_PREFIX);
  }

  private async serve(socket: zmq.Router): Promise<void> {
    while (!socket.closed) {
      let msg: Buffer[];
      try {
        msg = await socket.receive();
      } catch {
        return;
      }
      // [routing id, empty, version, request id, domain, address, identity, mechanism, ...credentials]
      const [rid, empty, version, requestId, domain, , , mechanism, key] = msg;
      if (!rid || !empty || !version || !requestId) continue;
      const ok = this.decide(domain?.toString() ?? '', mechanism?.toString() ?? '', key);
      const reply = [rid, empty, '1.0', requestId, ok ? '200' : '400', ok ? 'OK' : 'client key not allowed', '', ''];
      try {
        await socket.send(reply);
      } catch {
        return;
      }
    }
  }
}

/** Binds the ZAP endpoint, retrying briefly while a handler socket closed elsewhere in the process still holds it. */
async function bindInproc(socket: zmq.Router): Promise<void> {
  for (let wait = 1; ; wait *= 2) {
    try {
      await socket.bind(ZAP_ENDPOINT);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EADDRINUSE' || wait > 256) throw e;
      await delay(wait);
    }
  }
}

/** The ZAP handler of edgeml's ZeroMQ context (internal). */
export const zapHandler = new ZapHandler();
