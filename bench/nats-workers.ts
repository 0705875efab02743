/**
 * `npm run bench:nats-workers` (compiled; `npx tsx bench/nats-workers.ts` works too): calls per second through one
 * NATS service name with 1, 2 and 4 inference worker processes behind it (`bench/nats-worker.ts`, a NATS queue group),
 * from one client (this process) that keeps a fixed number of calls in flight for a few seconds. Two interfaces:
 * `gpu`, where each worker serves one call at a time for `--gpu-ms` (a timer standing for a GPU: workers add capacity
 * whatever the cores), and `echo`, pure CPU (16 bytes each way: bounded by the machine's cores, which the client, the
 * workers and nats-server share). Beside each figure, two raw nats.js floors of the same run, from a connection with
 * edgeml's options to queue-group subscribers in the same worker processes: `request()` (a muxed inbox, a timer and
 * an error object per call) and `publish` with a reply subject below one inbox subscription (what edgeml does on the
 * wire). Each worker count runs `--rounds` rounds, the three taking turns in a rotating order; a figure is the median
 * of its rounds, a share the sum of its rounds.
 *
 * Options: --seconds=3 --rounds=3 --concurrency=32 --gpu-ms=5 --workers=1,2,4
 */
import type { ChildProcess } from 'node:child_process';
import '../src/nats.js';
import { InferenceClient, Tensor } from '../src/index.js';
import { forkChild, has, nextMessage, stopChild } from './children.js';
import { rawConnect, startNatsServer } from './nats-server.js';

function option(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? fallback : arg.slice(name.length + 3);
}
const seconds = Number(option('seconds', '3'));
const rounds = Number(option('rounds', '3'));
const concurrency = Number(option('concurrency', '32'));
const gpuMs = Number(option('gpu-ms', '5'));
const workerCounts = option('workers', '1,2,4').split(',').map(Number);
const WARMUP_MS = 300;

const nats = await startNatsServer();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Load {
  rate: number;
  perWorker: number[];
}

/** Keeps `concurrency` calls in flight; counts the calls that end within the measured `seconds`, per worker. */
async function load(workers: number, call: () => Promise<number>): Promise<Load> {
  const perWorker = new Array<number>(workers).fill(0);
  let done = 0;
  const from = performance.now() + WARMUP_MS;
  const to = from + seconds * 1000;
  const lane = async (): Promise<void> => {
    while (performance.now() < to) {
      const w = await call();
      const t = performance.now();
      if (t >= from && t < to) {
        done++;
        perWorker[w] = (perWorker[w] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { rate: done / seconds, perWorker };
}

const shares = (counts: number[]): string => {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => `${Math.round((100 * c) / Math.max(1, total))}`).join(' / ');
};

const data = new Uint8Array(16).fill(7);
const tensor = new Tensor('uint8', data, [16]);
const rows: string[] = [
  '| interface | workers | edgeml calls/s | edgeml share per worker (%) | raw request() calls/s | raw publish calls/s | ' +
    'raw publish share per worker (%) | edgeml ÷ request() | edgeml ÷ publish |',
  '|---|---|---|---|---|---|---|---|---|',
];
const KINDS = ['edgeml', 'request', 'publish'] as const;
type Kind = (typeof KINDS)[number];
interface Result {
  iface: string;
  workers: number;
  rates: Record<Kind, number[]>;
  shares: Record<Kind, number[]>;
}
const results: Result[] = [];
for (const n of workerCounts) {
  const service = `workers${n}`;
  const children: ChildProcess[] = [];
  for (let i = 0; i < n; i++) children.push(forkChild('nats-worker', [nats.url, service, String(i), String(gpuMs)]));
  await Promise.all(children.map((c) => nextMessage(c, has('ready'))));
  const client = await InferenceClient.connect(`${nats.url}/${service}`);
  const raw = await rawConnect(nats.hostPort);
  const inbox = `raw.inbox.${service}`;
  const waiting = new Map<string, (w: number) => void>();
  raw.subscribe(`${inbox}.>`, { callback: (_e, m) => waiting.get(m.subject)?.(m.data[0]!) });
  await raw.flush();
  let seq = 0;
  const published = (subject: string) =>
    new Promise<number>((resolve) => {
      const reply = `${inbox}.${++seq}`;
      waiting.set(reply, (w) => {
        waiting.delete(reply);
        resolve(w);
      });
      raw.publish(subject, data, { reply });
    });
  const calls: Record<string, Record<Kind, () => Promise<number>>> = {
    gpu: {
      edgeml: async () => ((await client.call('gpu', {})) as { w: number }).w,
      request: async () => (await raw.request(`raw.${service}.gpu`, data, { timeout: 10_000 })).data[0]!,
      publish: () => published(`raw.${service}.gpu`),
    },
    echo: {
      edgeml: async () => ((await client.call('echo', { t: tensor })) as { w: number }).w,
      request: async () => (await raw.request(`raw.${service}.echo`, data, { timeout: 10_000 })).data[0]!,
      publish: () => published(`raw.${service}.echo`),
    },
  };
  for (const [iface, f] of Object.entries(calls)) {
    const r: Result = {
      iface,
      workers: n,
      rates: { edgeml: [], request: [], publish: [] },
      shares: { edgeml: [], request: [], publish: [] },
    };
    for (const k of KINDS) r.shares[k] = new Array<number>(n).fill(0);
    for (let round = 0; round < rounds; round++) {
      // A rotating order, so that a drift of the machine's load does not favour one.
      for (let j = 0; j < KINDS.length; j++) {
        const kind = KINDS[(round + j) % KINDS.length]!;
        const l = await load(n, f[kind]);
        r.rates[kind].push(l.rate);
        l.perWorker.forEach((c, i) => {
          r.shares[kind][i] = (r.shares[kind][i] ?? 0) + c;
        });
      }
    }
    results.push(r);
  }
  await client.close();
  await raw.close();
  await Promise.all(children.map(stopChild));
}
for (const iface of ['gpu', 'echo']) {
  for (const r of results.filter((x) => x.iface === iface)) {
    const e = median(r.rates.edgeml);
    const q = median(r.rates.request);
    const p = median(r.rates.publish);
    rows.push(
      `| ${iface === 'gpu' ? `gpu (${gpuMs} ms, one at a time)` : 'echo (CPU)'} | ${r.workers} | ${e.toFixed(0)} | ` +
        `${shares(r.shares.edgeml)} | ${q.toFixed(0)} | ${p.toFixed(0)} | ${shares(r.shares.publish)} | ` +
        `${(e / q).toFixed(2)} | ${(e / p).toFixed(2)} |`,
    );
  }
}
console.log(
  `${concurrency} calls in flight, ${seconds} s a round, ${rounds} rounds (median), ${gpuMs} ms of simulated GPU a call`,
);
console.log(rows.join('\n'));
nats.stop();
