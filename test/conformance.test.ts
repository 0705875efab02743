/**
 * The transport conformance suite (`conformance-suite.ts`) over ZeroMQ on loopback (plain and CURVE), in-process and
 * WebSocket.
 */
import { conformanceSuite } from './conformance-suite.js';
import { freePort, transports } from './helpers.js';

for (const { name, make, endpoint } of transports) {
  conformanceSuite({
    name,
    make,
    bindable: () => endpoint(0),
    bound: (_requested, port) => endpoint(port),
    vacant: async () => endpoint(await freePort()),
  });
}
