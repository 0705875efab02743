/**
 * `npm run bench:nats` (compiled, as `npm run bench`; `npx tsx bench/nats.ts` works too, every variant slower): edgeml
 * over NATS against raw nats.js request/reply of the same bytes, sequential round trips on loopback (small, img224,
 * cams4), with edgeml unchunked and chunked at 1 MB. Needs `nats-server` (PATH, /usr/sbin or $NATS_SERVER); starts its
 * own with `max_payload` 8 MB so that raw nats.js can carry cams4 at all.
 *
 * Two raw floors, both on connections with edgeml's own nats.js options, requester and responder on connections of
 * their own (as edgeml's client and server are), the responder in a queue group (as edgeml's servers are):
 * `request()`, nats.js's request/reply (a muxed inbox, a timer and an error object per request), and `publish`, a
 * publish with a reply subject to an inbox the requester subscribed once, which is what edgeml does on the wire.
 * The variants take turns call by call (the order rotating), so that a noisy machine weighs on all of them alike;
 * each figure is the median of its calls, each ratio one to a floor measured in the same run. A last column takes
 * its turn too: edgeml over the direct ZeroMQ transport (`tcp://127.0.0.1`), the same calls without a broker.
 */
import '../src/nats.js';
import '../src/zmq.js';
import { InferenceClient, InferenceServer, Tensor } from '../src/index.js';
import { rawConnect, startNatsServer } from './nats-server.js';

const nats = await startNatsServer();
const { url } = nats;

const sizes = {
  small: 16,
  img224: 224 * 224 * 3,
  cams4: 4 * 480 * 640 * 3,
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median ms of each variant over `n` rounds, one call of each per round, in an order that rotates. */
async function interleaved(n: number, variants: (() => Promise<unknown>)[]): Promise<number[]> {
  for (let i = 0; i < Math.min(20, n); i++) for (const f of variants) await f();
  const ms: number[][] = variants.map(() => []);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < variants.length; j++) {
      const k = (i + j) % variants.length;
      const t = performance.now();
      await variants[k]!();
      ms[k]!.push(performance.now() - t);
    }
  }
  return ms.map(median);
}

const responder = await rawConnect(nats.hostPort);
const requester = await rawConnect(nats.hostPort);
responder.subscribe('raw.echo', { queue: 'raw', callback: (_e, m) => void m.respond(m.data) });
await responder.flush();
// The `publish` floor: one inbox subscription, a reply subject below it per request.
const inbox = `raw.inbox.${Math.random().toString(16).slice(2)}`;
const waiting = new Map<string, () => void>();
requester.subscribe(`${inbox}.>`, { callback: (_e, m) => waiting.get(m.subject)?.() });
await requester.flush();
let seq = 0;
function published(data: Uint8Array): Promise<void> {
  const reply = `${inbox}.${++seq}`;
  return new Promise<void>((resolve) => {
    waiting.set(reply, () => {
      waiting.delete(reply);
      resolve();
    });
    requester.publish('raw.echo', data, { reply });
  });
}

const server = new InferenceServer({ listen: `${url}/bench` });
server.registerInterface('echo', (p) => p);
await server.start();
const chunkedServer = new InferenceServer({ listen: `${url}/chunked`, nats: { chunkBytes: 1024 * 1024 } });
chunkedServer.registerInterface('echo', (p) => p);
await chunkedServer.start();
const zmqServer = new InferenceServer({ listen: 'tcp://127.0.0.1:0' });
zmqServer.registerInterface('echo', (p) => p);
await zmqServer.start();
const client = await InferenceClient.connect(`${url}/bench`);
const zmq = await InferenceClient.connect(`tcp://127.0.0.1:${zmqServer.port}`);
const chunked = await InferenceClient.connect(`${url}/chunked`, { nats: { chunkBytes: 1024 * 1024 } });

const ratio = (x: number, floor: number) => (x / floor).toFixed(2);
const rows: string[] = [
  '| payload | bytes | raw request() (ms) | raw publish (ms) | edgeml (ms) | ÷ request() | ÷ publish | ' +
    'edgeml chunked 1 MB (ms) | ÷ request() | ÷ publish | edgeml over ZeroMQ (ms) | NATS ÷ ZeroMQ |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
];
for (const [name, bytes] of Object.entries(sizes)) {
  const n = bytes > 1e6 ? 60 : bytes > 1e4 ? 400 : 2000;
  const data = new Uint8Array(bytes).fill(7);
  const tensor = new Tensor('uint8', data, [bytes]);
  const [r, p, e, c, z] = (await interleaved(n, [
    () => requester.request('raw.echo', data, { timeout: 5000 }),
    () => published(data),
    () => client.call('echo', { t: tensor }),
    () => chunked.call('echo', { t: tensor }),
    () => zmq.call('echo', { t: tensor }),
  ])) as [number, number, number, number, number];
  rows.push(
    `| ${name} | ${bytes} | ${r.toFixed(3)} | ${p.toFixed(3)} | ${e.toFixed(3)} | ${ratio(e, r)} | ${ratio(e, p)} | ` +
      `${c.toFixed(3)} | ${ratio(c, r)} | ${ratio(c, p)} | ${z.toFixed(3)} | ${ratio(e, z)} |`,
  );
}
console.log(rows.join('\n'));
await client.close();
await chunked.close();
await zmq.close();
await zmqServer.stop();
await server.stop();
await chunkedServer.stop();
await responder.close();
await requester.close();
nats.stop();
