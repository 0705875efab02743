/**
 * Soak run: an inference server, an action server (with observation stream) and a trainer (with weights broadcasts)
 * in this process, driven by several clients with mixed traffic, garbage and reconnects, with one server restarted
 * on its ports every 10 s. Samples memory every second and prints requests served, errors by class, peak memory and
 * a verdict; exits 1 if anything unexpected happened or if memory keeps growing.
 *
 * Usage: npm run soak -- [--minutes N | --seconds N] [--max-rss-mb N] [--json] [--simulate-leak-mb N]
 *
 * Memory verdict: after warm-up (the first third of the run), the mean of the last third must stay within 25% + 32
 * MiB of the middle third for RSS, and within 50% + 16 MiB for the heap after a full collection. `--json` adds a
 * last line `SOAK_REPORT <json>` for programs. `--simulate-leak-mb N` keeps N MiB more every second, to check that the
 * verdict catches growth.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SoakServers } from './soak-servers.js';
import {
  actionDriver,
  garbageDriver,
  hostileDriver,
  inferenceDriver,
  type Soak,
  Tally,
  trainerDriver,
} from './soak-traffic.js';

const MB = 1024 * 1024;
const RESTART_EVERY_MS = 10_000;

function args(argv: string[]): { seconds: number; maxRssMb: number; json: boolean; leakMb: number } {
  let seconds = 60;
  let maxRssMb = 1536;
  let json = false;
  let leakMb = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): number => {
      const n = Number(argv[++i]);
      if (!(n > 0)) throw new Error(`${a} needs a positive number`);
      return n;
    };
    if (a === '--minutes') seconds = next() * 60;
    else if (a === '--seconds') seconds = next();
    else if (a === '--max-rss-mb') maxRssMb = next();
    else if (a === '--json') json = true;
    else if (a === '--simulate-leak-mb') leakMb = next();
    else throw new Error(`unknown argument ${a}; usage: soak [--minutes N | --seconds N] [--max-rss-mb N] [--json]`);
  }
  return { seconds, maxRssMb, json, leakMb };
}

interface Sample {
  t: number;
  rss: number;
  heap: number;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Memory verdict: growth of the last third of the samples over the middle third. */
function memoryVerdict(samples: Sample[]): {
  ok: boolean;
  rssMid: number;
  rssLast: number;
  heapMid: number;
  heapLast: number;
} {
  const n = samples.length;
  const mid = samples.slice(Math.floor(n / 3), Math.floor((2 * n) / 3));
  const last = samples.slice(Math.floor((2 * n) / 3));
  const rssMid = mean(mid.map((s) => s.rss));
  const rssLast = mean(last.map((s) => s.rss));
  const heapMid = mean(mid.map((s) => s.heap));
  const heapLast = mean(last.map((s) => s.heap));
  const ok = n < 6 || (rssLast <= rssMid * 1.25 + 32 * MB && heapLast <= heapMid * 1.5 + 16 * MB);
  return { ok, rssMid, rssLast, heapMid, heapLast };
}

async function main(): Promise<number> {
  const { seconds, maxRssMb, json, leakMb } = args(process.argv.slice(2));
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const tally = new Tally();
  process.on('uncaughtException', (e) => tally.fail(`uncaught exception: ${e.stack ?? e.message}`));
  process.on('unhandledRejection', (e) => tally.fail(`unhandled rejection: ${String(e)}`));

  const servers = new SoakServers();
  await servers.start();
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const soak: Soak = { servers, tally, running: () => Date.now() < deadline };

  const samples: Sample[] = [];
  const leaked: Buffer[] = [];
  const sampler = setInterval(() => {
    if (leakMb > 0) leaked.push(Buffer.alloc(leakMb * MB, 1));
    gc();
    const m = process.memoryUsage();
    samples.push({ t: Date.now() - started, rss: m.rss, heap: m.heapUsed });
  }, 1_000);
  const restarts: string[] = [];
  const restarter = (async () => {
    while (soak.running()) {
      await new Promise((r) => setTimeout(r, Math.min(RESTART_EVERY_MS, Math.max(0, deadline - Date.now()))));
      if (soak.running()) restarts.push(await servers.restartOne());
    }
  })();

  await Promise.all([
    inferenceDriver(soak),
    inferenceDriver(soak),
    inferenceDriver(soak),
    actionDriver(soak),
    actionDriver(soak),
    trainerDriver(soak),
    trainerDriver(soak),
    garbageDriver(soak),
    hostileDriver(soak),
    restarter,
  ]);
  clearInterval(sampler);
  const served = servers.served();
  const malformed = servers.malformed();
  await servers.stop();

  const mem = memoryVerdict(samples);
  const peakRss = Math.max(0, ...samples.map((s) => s.rss));
  const peakHeap = Math.max(0, ...samples.map((s) => s.heap));
  const okCalls = [...tally.ok.values()].reduce((a, b) => a + b, 0);
  const anyServedByEach = served.inference > 0 && served.action > 0 && served.trainer > 0;
  const problems = [
    ...tally.unexpected,
    ...(tally.unexpectedCount > tally.unexpected.length
      ? [`... ${tally.unexpectedCount - tally.unexpected.length} more`]
      : []),
    ...(mem.ok ? [] : ['memory keeps growing']),
    ...(peakRss > maxRssMb * MB ? [`peak RSS over ${maxRssMb} MiB`] : []),
    ...(anyServedByEach ? [] : ['a server answered no request']),
  ];
  const report = {
    seconds: Math.round((Date.now() - started) / 1000),
    served,
    requestsServed: served.inference + served.action + served.trainer,
    clientCallsOk: okCalls,
    okByOperation: Object.fromEntries(tally.ok),
    errorsByClass: Object.fromEntries(tally.errors),
    obsDelivered: tally.obsDelivered,
    weightsDelivered: tally.weightsDelivered,
    garbageSent: tally.garbage,
    malformedSeenByServers: malformed,
    clientsCreated: tally.reconnects,
    restarts: restarts.length,
    peakRssMb: Math.round(peakRss / MB),
    peakHeapMb: Math.round(peakHeap / MB),
    rssMiddleThirdMb: Math.round(mem.rssMid / MB),
    rssLastThirdMb: Math.round(mem.rssLast / MB),
    heapMiddleThirdMb: Math.round(mem.heapMid / MB),
    heapLastThirdMb: Math.round(mem.heapLast / MB),
    samples: samples.length,
    problems,
    verdict: problems.length === 0 ? 'PASS' : 'FAIL',
  };
  const r = report;
  const lines = [
    `soak: ${r.seconds} s, ${r.requestsServed} requests served (inference ${served.inference}, action ` +
      `${served.action}, trainer ${served.trainer})`,
    `  client calls ok: ${okCalls}; observations streamed: ${r.obsDelivered}; weights received: ${r.weightsDelivered}`,
    `  errors by class: ${JSON.stringify(r.errorsByClass)} (deliberate failures included)`,
    `  garbage sent: ${r.garbageSent} bursts (undecodable messages at the servers since their last restart: ` +
      `${malformed}); clients created: ${r.clientsCreated}; server restarts: ${r.restarts}`,
    `  peak RSS ${r.peakRssMb} MiB, peak heap ${r.peakHeapMb} MiB; middle/last third: RSS ${r.rssMiddleThirdMb}/` +
      `${r.rssLastThirdMb} MiB, heap ${r.heapMiddleThirdMb}/${r.heapLastThirdMb} MiB`,
    ...problems.map((p) => `  problem: ${p}`),
    `  verdict: ${r.verdict}`,
  ];
  const out = process.stdout;
  out.write(`${lines.join('\n')}\n`);
  if (json) out.write(`SOAK_REPORT ${JSON.stringify(report)}\n`);
  return problems.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`soak failed to run: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 2;
  },
);
