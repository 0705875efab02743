/**
 * The ZeroMQ context of this copy of edgeml. Every socket of the ZeroMQ transport lives in it, and so does the ZAP
 * handler that authenticates CURVE clients, so edgeml never answers authentication requests for another library's
 * sockets (they live in zeromq.js's global context) and two copies of edgeml in one process do not meet.
 *
 * @module
 */
import * as zmq from 'zeromq';

let context: zmq.Context | undefined;

/** The context, made on first use. `blocky: false`: closing never waits for queued messages (sockets use linger 0). */
export function edgemlContext(): zmq.Context {
  context ??= new zmq.Context({ blocky: false });
  return context;
}
