/**
 * The seed's action-mode example, edge side: serves camera frames and a state vector, takes `move` actions, and
 * streams a synthetic 480x640x3 camera frame 30 times a second. Stop it with Ctrl-C.
 *
 *   npx tsx examples/action-server.ts [--port 5560] [--host 0.0.0.0]
 *
 * Same as `edgeml example --server`; run examples/action-client.ts (or `edgeml example --client`) against it.
 */
import { parseArgs } from 'node:util';
import { ActionConfig, ActionServer, Tensor } from '../src/index.js';

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } } });
const port = Number(values.port ?? 5560);

const config = new ActionConfig({
  portNumber: port,
  broadcastPort: port === 0 ? 0 : port + 1,
  actionKeys: ['move'],
  observationKeys: ['camera', 'state'],
  version: 'edgeml-example-1',
});

const frame = (n: number): Tensor<'uint8'> => {
  const data = new Uint8Array(480 * 640 * 3).fill(n & 0xff); // a new buffer each time: published data is not copied
  return new Tensor('uint8', data, [480, 640, 3]);
};

let n = 0;
let camera = frame(0);
const state = new Float32Array(7);

const server = new ActionServer(
  config,
  // Observation callback: gets the requested keys, returns an object keyed by them.
  (keys) => Object.fromEntries(keys.map((k) => [k, k === 'camera' ? camera : state.slice()])),
  // Action callback: gets the action key and the client's payload; its result goes back to the client.
  (_key, payload) => {
    const { dx = 0, dy = 0 } = (payload ?? {}) as { dx?: number; dy?: number };
    state[0] = (state[0] ?? 0) + dx;
    state[1] = (state[1] ?? 0) + dy;
    return { status: 'received' };
  },
  { host: values.host ?? '127.0.0.1' },
);

const stopped = new Promise((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await server.start();
console.log(`action server: requests on port ${server.port}, stream on port ${server.broadcastPort}; Ctrl-C stops`);

const timer = setInterval(() => {
  camera = frame(++n);
  server.publishObs({ camera, state: state.slice(), frame: n, sentAt: Date.now() });
}, 1000 / 30);

await stopped;
clearInterval(timer);
await server.stop();
console.log(`stopped after ${n} frames`);
