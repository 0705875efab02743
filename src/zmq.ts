/**
 * `edgeml/zmq`: the ZeroMQ transport class, for programs that build one themselves (to share one CURVE setup between
 * several servers, say). Servers and clients use it by default for `tcp://` endpoints without this import. Importing
 * this entry loads the `zeromq` native addon.
 *
 * @packageDocumentation
 */

export { ZmqTransport, type ZmqTransportOptions } from './transport/zmq/zmq-transport.js';
