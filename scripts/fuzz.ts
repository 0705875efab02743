/**
 * Long fuzzing run: test/fuzz.test.ts with many more cases than CI runs (mutated and random messages, value-count and
 * decompression bombs, a live server), then the number of cases of each kind.
 *
 * Usage: npm run fuzz -- [--runs N]   (N cases per property; default 50000)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
let runs = 50_000;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--runs' && Number(argv[i + 1]) > 0) runs = Number(argv[++i]);
  else throw new Error(`unknown argument ${argv[i]}; usage: fuzz [--runs N]`);
}
const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const dir = mkdtempSync(join(tmpdir(), 'edgeml-fuzz-'));
const report = join(dir, 'report.json');
const started = Date.now();
const result = spawnSync(process.execPath, [vitest, 'run', 'test/fuzz.test.ts'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: String(runs), FUZZ_REPORT: report },
});
let counts: Record<string, number> = {};
try {
  counts = JSON.parse(readFileSync(report, 'utf8')) as Record<string, number>;
} catch {
  // No report: the run failed before the end.
}
rmSync(dir, { recursive: true, force: true });
const n = (k: string): number => counts[k] ?? 0;
const total = n('decoder') + n('decoderRandom') + n('envelope') + n('liveCases') + n('valueBombs') + n('lz4Bombs');
process.stdout.write(
  [
    `fuzz: ${total} cases in ${Math.round((Date.now() - started) / 1000)} s (${runs} per property)`,
    `  decoder: ${n('decoder')} mutated messages (${n('decoderAccepted')} still valid), ${n('decoderRandom')} random ` +
      `frame lists, ${n('envelope')} mutated request envelopes`,
    `  bombs: ${n('valueBombs')} value-count bombs (${n('valueBombsRefused')} over maxValues, refused), ` +
      `${n('lz4Bombs')} decompression bombs (${n('lz4BombsRefused')} refused)`,
    `  live server: ${n('liveCases')} batches, ${n('liveMessages')} messages, ${n('liveAnswers')} answers`,
    `  result: ${result.status === 0 ? 'every property held' : 'FAILED (see above)'}`,
    '',
  ].join('\n'),
);
process.exitCode = result.status ?? 1;
