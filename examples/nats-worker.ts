/**
 * A GPU worker of a fleet on NATS: serves interface `detect` under the service name `detector`. Start as many as you
 * like; calls are spread over the live ones.
 *
 *   nats-server -js                                   # terminal 1
 *   npx tsx examples/nats-worker.ts --name w1         # terminal 2 (and w2 in terminal 3, ...)
 *   npx tsx examples/nats-client.ts                   # terminal 4: shows which worker answered each call
 *
 * Options: --name NAME, --url nats://127.0.0.1:4222/detector
 */
import { parseArgs } from 'node:util';
import 'edgeml/nats';
import { InferenceServer } from 'edgeml';

const { values } = parseArgs({
  options: { name: { type: 'string', default: `w${process.pid}` }, url: { type: 'string' } },
});
const url = values.url ?? 'nats://127.0.0.1:4222/detector';
const name = values.name ?? 'worker';
let served = 0;
const server = new InferenceServer({ listen: url });
server.registerInterface('detect', (payload) => {
  served++;
  return { worker: name, echo: payload };
});
await server.start();
console.log(`${name}: serving detect on ${url}; Ctrl-C stops`);
process.once('SIGINT', () => {
  console.log(`${name}: served ${served} calls`);
  void server.stop();
});
