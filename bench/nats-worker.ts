/**
 * One inference worker of `bench/nats-workers.ts`, a child process: an edgeml server at `<url>/<service>` and a raw
 * nats.js responder on `raw.<service>.*` (queue group `raw.<service>`, a connection with edgeml's options), each with
 * two interfaces that answer with this worker's index, so the parent can count each worker's share of the calls:
 * `gpu` stands for a GPU, one call at a time, `gpuMs` each (a timer, no CPU), so that workers add capacity even on a
 * machine with few cores; `echo` answers at once with what it got (all CPU, so bounded by the machine's cores).
 * Says `{ ready: true }` once both serve; stops when the parent asks or goes away.
 * Usage (through forkChild): nats-worker <nats://host:port> <service> <index> <gpuMs>
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import '../src/nats.js';
import { InferenceServer, type Tensor } from '../src/index.js';
import { onParentStop, toParent } from './children.js';
import { rawConnect } from './nats-server.js';

const [url, service, indexArg, gpuMsArg] = process.argv.slice(2) as [string, string, string, string];
const index = Number(indexArg);
const gpuMs = Number(gpuMsArg);

/** The simulated GPU: calls take turns, `gpuMs` each. */
let gpu: Promise<unknown> = Promise.resolve();
function onGpu(): Promise<unknown> {
  const run = gpu.then(() => delay(gpuMs));
  gpu = run;
  return run;
}

const server = new InferenceServer({ listen: `${url}/${service}` });
server.registerInterface('gpu', async () => {
  await onGpu();
  return { w: index };
});
server.registerInterface('echo', (p) => ({ w: index, t: (p as { t: Tensor }).t }));
await server.start();

const raw = await rawConnect(url.replace(/^nats:\/\//, ''));
const queue = `raw.${service}`;
raw.subscribe(`raw.${service}.gpu`, {
  queue,
  callback: (_e, m) => {
    void onGpu().then(() => m.respond(Uint8Array.of(index)));
  },
});
raw.subscribe(`raw.${service}.echo`, {
  queue,
  callback: (_e, m) => {
    const out = new Uint8Array(1 + m.data.length);
    out[0] = index;
    out.set(m.data, 1);
    m.respond(out);
  },
});
await raw.flush();

onParentStop(async () => {
  await server.stop();
  await raw.close();
});
await toParent({ ready: true });
