/**
 * The transport conformance suite (`conformance-suite.ts`) over ZeroMQ on loopback (plain and CURVE) and in-process.
 */
import { tcpEndpoint } from '../src/core/endpoint.js';
import { conformanceSuite } from './conformance-suite.js';
import { freePort, HOST, transports } from './helpers.js';

for (const { name, make } of transports) {
  conformanceSuite({
    name,
    make,
    bindable: () => tcpEndpoint(HOST, 0),
    bound: (_requested, port) => tcpEndpoint(HOST, port),
    vacant: async () => tcpEndpoint(HOST, await freePort()),
  });
}
