/**
 * The seed's action-mode example, GPU side: fetches observations 10 times a second, sends an action for each, counts
 * the streamed camera frames, and prints latency and frame rate. Ends by itself after 5 seconds.
 *
 *   npx tsx examples/action-client.ts [--ip 100.10.23.23] [--port 5560] [--seconds 5]
 *
 * Same as `edgeml example --client`; start examples/action-server.ts (or `edgeml example --server`) first.
 */
import { parseArgs } from 'node:util';
import { ActionClient, ActionConfig, type Tensor } from '../src/index.js';

const { values } = parseArgs({
  options: { ip: { type: 'string' }, port: { type: 'string' }, seconds: { type: 'string' } },
});
const port = Number(values.port ?? 5560);
const seconds = Number(values.seconds ?? 5);

const config = new ActionConfig({
  portNumber: port,
  broadcastPort: port + 1,
  actionKeys: ['move'],
  observationKeys: ['camera', 'state'],
  version: 'edgeml-example-1',
});
// Fails with ConfigMismatchError if the server's keys differ, TimeoutError if no server answers.
const client = await ActionClient.connect<{ camera: Tensor; state: Float32Array }>(values.ip ?? '127.0.0.1', config, {
  connectTimeoutMs: 5000,
});

let frames = 0;
client.registerObsCallback(() => {
  frames++;
});

const latencies: number[] = [];
const start = performance.now();
while (performance.now() - start < seconds * 1000) {
  const t0 = performance.now();
  const obs = await client.obs(); // or client.getObservation()
  await client.act('move', { dx: 0.01, dy: -0.01 }); // or client.sendAction({ ... }): 'move' is the only key
  latencies.push(performance.now() - t0);
  if (latencies.length % 10 === 0) {
    console.log(`frame ${obs.camera.shape.join('x')}, round trip ${latencies.at(-1)?.toFixed(2)} ms`);
  }
  await new Promise((r) => setTimeout(r, 100));
}

const elapsed = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const p50 = latencies[Math.floor(latencies.length / 2)] ?? 0;
console.log(`${latencies.length} obs+act round trips, p50 ${p50.toFixed(2)} ms`);
console.log(`${frames} streamed frames, ${(frames / elapsed).toFixed(1)} fps, ${client.streamStats().dropped} dropped`);
await client.close();
