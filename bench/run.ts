/**
 * `npm run bench`: compiles the benchmark and the library with tsc (the code users run, not a transpile-on-load
 * that makes every imported binding a getter), runs the selected case sets, prints Markdown tables (stdout) and
 * optionally writes JSON. Progress goes to stderr. Not part of the test run; nothing here asserts on timings.
 *
 * @module
 */
import { loadavg } from 'node:os';
import { runBatching } from './batching.js';
import { runBrowser } from './browser.js';
import { runCodec } from './codec-cost.js';
import { runImages } from './images.js';
import { runLink } from './link.js';
import type { ResultRow } from './measure.js';
import { runMemory } from './memory.js';
import { type BenchOptions, parseOptions, UPLOAD_CASES, USAGE } from './options.js';
import { runBroadcast, runStream } from './pubsub.js';
import { machineInfo, markdownReport, writeJson } from './report.js';
import { runRoundTrip } from './roundtrip.js';
import { type Servers, startServers } from './servers.js';
import { runThroughput } from './throughput.js';
import { runWebSocket } from './websocket.js';

function seconds(options: BenchOptions): number {
  return options.budget.kind === 'seconds' ? options.budget.seconds : 2;
}

async function runSets(options: BenchOptions, progress: (line: string) => void): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const raw = options.baselines.includes('raw');
  const needsServers = options.sets.some((s) =>
    ['roundtrip', 'upload', 'throughput', 'websocket', 'browser'].includes(s),
  );
  let servers: Servers | undefined;
  try {
    if (needsServers) {
      servers = await startServers(options.split);
      progress(`request/reply servers ${servers.where}`);
    }
    for (const set of options.sets) {
      switch (set) {
        case 'codec':
          rows.push(...runCodec(progress));
          break;
        case 'roundtrip':
        case 'upload':
          rows.push(
            ...(await runRoundTrip({
              mode: set === 'roundtrip' ? 'echo' : 'upload',
              cases: set === 'roundtrip' ? options.roundtrip : UPLOAD_CASES,
              baselines: options.baselines,
              budget: options.budget,
              ports: servers!.ports,
              progress,
            })),
          );
          break;
        case 'throughput':
          rows.push(
            ...(await runThroughput({ ports: servers!.ports, seconds: seconds(options) * (2 / 3), raw, progress })),
          );
          break;
        case 'broadcast':
          rows.push(...(await runBroadcast({ trials: options.trials, raw, progress })));
          break;
        case 'stream':
          rows.push(...(await runStream({ seconds: seconds(options), raw, progress })));
          break;
        case 'memory':
          rows.push(...(await runMemory({ raw, progress })));
          break;
        case 'batching':
          rows.push(...(await runBatching({ seconds: seconds(options), progress })));
          break;
        case 'websocket':
          rows.push(...(await runWebSocket({ budget: options.budget, ports: servers!.ports, progress })));
          break;
        case 'browser':
          rows.push(...(await runBrowser({ budget: options.budget, ports: servers!.ports, progress })));
          break;
        case 'images':
          rows.push(...(await runImages(progress)));
          break;
        case 'link':
          rows.push(...(await runLink({ seconds: seconds(options), progress })));
          break;
      }
    }
  } finally {
    await servers?.close();
  }
  return rows;
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const machine = machineInfo();
  const started = performance.now();
  const progress = (line: string): void => {
    process.stderr.write(`bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s  ${line}\n`);
  };
  const budget =
    options.budget.kind === 'seconds' ? `${options.budget.seconds} s` : `${options.budget.iterations} iterations`;
  progress(
    `sets ${options.sets.join(', ')}; ${budget} per case; request/reply servers ${options.split ? 'in a child process' : 'in-process'}`,
  );
  const rows = await runSets(options, progress);
  machine.loadEnd = loadavg()[0] ?? 0;
  const heading = `## edgeml benchmark (${budget} per case, loopback, request/reply servers ${options.split ? 'in a child process' : 'in-process'})`;
  process.stdout.write(`${markdownReport(machine, rows, heading)}\n`);
  if (options.json) {
    writeJson(options.json, machine, options, rows);
    progress(`wrote ${options.json}`);
  }
  progress('done');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
