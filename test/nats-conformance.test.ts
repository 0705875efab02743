/**
 * The transport conformance suite (`conformance-suite.ts`) over NATS, against a real nats-server. Each server the
 * suite binds gets a service name of its own; "vacant" is a service nobody serves yet.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { parseEndpoint } from '../src/core/endpoint.js';
import { NatsTransport } from '../src/transport/nats/nats-transport.js';
import { conformanceSuite } from './conformance-suite.js';
import { NATS_SKIP_REASON, type NatsServerProcess, startNatsServer } from './nats-server.js';

let nats: NatsServerProcess | undefined;
let next = 0;
const service = () => parseEndpoint(`${nats!.url}/conf${++next}`);

describe.skipIf(NATS_SKIP_REASON !== undefined)(`NATS (${NATS_SKIP_REASON ?? 'nats-server found'})`, () => {
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await nats?.stop();
  });
  conformanceSuite({
    name: 'nats',
    make: () => new NatsTransport(),
    bindable: service,
    bound: (requested) => requested,
    vacant: async () => service(),
  });
});
