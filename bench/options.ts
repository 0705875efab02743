/**
 * Command-line options of `npm run bench`.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import type { Budget } from './measure.js';
import { CASE_NAMES, type CaseName, isCaseName } from './payloads.js';
import { BASELINES, type BaselineName } from './roundtrip.js';

/** Case sets, in run order. `roundtrip` stands for all its payload cases. */
export const SETS = [
  'codec',
  'roundtrip',
  'upload',
  'throughput',
  'broadcast',
  'stream',
  'memory',
  'batching',
  'websocket',
  'browser',
  'images',
  'link',
] as const;
/** A case set. */
export type SetName = (typeof SETS)[number];
/** Sets run without `--cases`: all but `link`, which needs root and makes network namespaces (ask for it by name). */
export const DEFAULT_SETS: readonly SetName[] = SETS.filter((s) => s !== 'link');

/** Payload cases of the upload set. */
export const UPLOAD_CASES: readonly CaseName[] = ['img224', 'cams4'];

/** Parsed options. */
export interface BenchOptions {
  /** Sets to run. */
  sets: SetName[];
  /** Payload cases of the round-trip set (all of them unless `--cases` names some). */
  roundtrip: CaseName[];
  baselines: BaselineName[];
  /** Round trip and upload: per case; stream: one-second segments per target (rounded); throughput and batching:
   * per target and configuration. */
  budget: Budget;
  /** Deliveries per target and subscriber count in the broadcast set. */
  trials: number;
  /** Request/reply servers in a child process (the default), or in this one (`--in-process`). */
  split: boolean;
  json: string | undefined;
}

/** Default measuring time per case, in seconds (warm-up excluded). */
export const DEFAULT_SECONDS = 3;
/** Default deliveries per target and subscriber count in the broadcast set. */
export const DEFAULT_TRIALS = 3;

/** Usage text. */
export const USAGE = `usage: npm run bench -- [options]
  --cases LIST        comma-separated sets: ${SETS.join(',')};
                      or round-trip payloads: ${CASE_NAMES.join(',')} (default: every set but link,
                      which needs root: it shapes a veth link between two network namespaces)
  --seconds N         measuring time per case and target (default ${DEFAULT_SECONDS})
  --iterations N      measured round trips per target and case, round trip and upload (instead of --seconds)
  --trials N          deliveries per target and subscriber count, broadcast (default ${DEFAULT_TRIALS})
  --baselines LIST    comma-separated, of ${BASELINES.join(',')}, or none (default: raw,ws)
  --in-process        run the request/reply servers in this process (default: in a child process)
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

function isSet(name: string): name is SetName {
  return (SETS as readonly string[]).includes(name);
}

/** Parses `argv` (without the node and script entries); throws with a readable message on bad input. */
export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      cases: { type: 'string' },
      seconds: { type: 'string' },
      iterations: { type: 'string' },
      trials: { type: 'string' },
      baselines: { type: 'string' },
      'in-process': { type: 'boolean' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const sets = new Set<SetName>();
  const roundtrip: CaseName[] = [];
  for (const c of list(values.cases) ?? [...DEFAULT_SETS]) {
    if (isSet(c)) sets.add(c);
    else if (isCaseName(c)) {
      sets.add('roundtrip');
      roundtrip.push(c);
    } else throw new Error(`unknown case ${c}; known: ${[...SETS, ...CASE_NAMES].join(', ')}`);
  }
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
  return {
    sets: SETS.filter((s) => sets.has(s)),
    roundtrip: roundtrip.length > 0 ? roundtrip : [...CASE_NAMES],
    baselines: baselines as BaselineName[],
    budget,
    trials: values.trials !== undefined ? Math.ceil(positive('trials', values.trials)) : DEFAULT_TRIALS,
    split: values['in-process'] !== true,
    json: values.json,
  };
}
