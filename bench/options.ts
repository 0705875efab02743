/**
 * Command-line options of `npm run bench`.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import type { Budget } from './measure.js';
import { CASE_NAMES, type CaseName, isCaseName } from './payloads.js';
import { BASELINES, type BaselineName } from './roundtrip.js';

/** Parsed options. */
export interface BenchOptions {
  cases: CaseName[];
  baselines: BaselineName[];
  budget: Budget;
  json: string | undefined;
}

/** Default measuring time per case, in seconds (warm-up excluded). */
export const DEFAULT_SECONDS = 3;

/** Usage text. */
export const USAGE = `usage: npm run bench -- [options]
  --cases LIST        comma-separated, of ${CASE_NAMES.join(',')} (default: all)
  --seconds N         measuring time per case, all targets together (default ${DEFAULT_SECONDS})
  --iterations N      measured round trips per target and case (instead of --seconds)
  --baselines LIST    comma-separated, of ${BASELINES.join(',')}, or none (default: raw,ws)
  --json FILE         also write the results as JSON
  --help`;

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${name} must be a positive number, got ${value}`);
  return n;
}

/** Parses `argv` (without the node and script entries); throws with a readable message on bad input. */
export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      cases: { type: 'string' },
      seconds: { type: 'string' },
      iterations: { type: 'string' },
      baselines: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const cases = list(values.cases) ?? [...CASE_NAMES];
  for (const c of cases) if (!isCaseName(c)) throw new Error(`unknown case ${c}; known: ${CASE_NAMES.join(', ')}`);
  const rawBaselines = list(values.baselines) ?? [...BASELINES];
  const baselines = rawBaselines.filter((b) => b !== 'none');
  for (const b of baselines) {
    if (!(BASELINES as readonly string[]).includes(b)) {
      throw new Error(`unknown baseline ${b}; known: ${BASELINES.join(', ')}, none`);
    }
  }
  if (values.seconds !== undefined && values.iterations !== undefined) {
    throw new Error('give --seconds or --iterations, not both');
  }
  const budget: Budget =
    values.iterations !== undefined
      ? { kind: 'iterations', iterations: Math.ceil(positive('iterations', values.iterations)) }
      : {
          kind: 'seconds',
          seconds: values.seconds !== undefined ? positive('seconds', values.seconds) : DEFAULT_SECONDS,
        };
  return { cases: cases as CaseName[], baselines: baselines as BaselineName[], budget, json: values.json };
}
