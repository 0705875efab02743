/**
 * `npm run bench`: runs the selected case sets, prints a Markdown table (stdout) and optionally writes JSON.
 * Progress goes to stderr. Not part of the test run; nothing here asserts on timings.
 *
 * @module
 */
import { loadavg } from 'node:os';
import { parseOptions, USAGE } from './options.js';
import { comparisons, machineInfo, machineLine, markdownTable, writeJson } from './report.js';
import { runRoundTrip } from './roundtrip.js';

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
  const progress = (line: string): void => {
    process.stderr.write(`bench ${line}\n`);
  };
  const budget =
    options.budget.kind === 'seconds' ? `${options.budget.seconds} s` : `${options.budget.iterations} iterations`;
  progress(`round trip, concurrency 1, ${budget} per case, batches interleaved`);
  const rows = await runRoundTrip({
    cases: options.cases,
    baselines: options.baselines,
    budget: options.budget,
    progress,
  });
  machine.loadEnd = loadavg()[0] ?? 0;
  const out = [
    `## Request/reply round trip (concurrency 1, ${budget} per case, loopback)`,
    '',
    machineLine(machine),
    '',
    markdownTable(rows),
    '',
    ...comparisons(rows).map((l) => `- ${l}`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  if (options.json) {
    writeJson(options.json, machine, options, rows);
    progress(`wrote ${options.json}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
