/**
 * Case set "roundtrip" (issue 2): request/reply echo at concurrency 1 for each payload case, edgeml against the raw
 * zeromq.js floor interleaved in one run, then the JSON-over-WebSocket alternative (see {@link RoundTripTarget.heavy}).
 *
 * Further case sets of issue 6 (upload mode, concurrency 1/8/64, broadcast, 30 Hz streaming, memory) go beside this
 * one as their own modules returning {@link ResultRow}s, so the report and `--json` stay the same.
 *
 * @module
 */
import { WsJsonTarget } from './baseline-ws.js';
import { RawZmqTarget } from './baseline-zmq.js';
import { type Budget, interleave, type RoundTrip, type RoundTripTarget, type Summary, summarise } from './measure.js';
import { type CaseName, makeCase } from './payloads.js';
import { EdgemlTarget } from './target-edgeml.js';

/** Baselines edgeml can be compared with. */
export const BASELINES = ['raw', 'ws'] as const;
/** A baseline name as given to `--baselines`. */
export type BaselineName = (typeof BASELINES)[number];

/** One line of the report: one target on one case. */
export interface ResultRow extends Summary {
  /** Case set, e.g. `roundtrip`. */
  set: string;
  case: string;
  description: string;
  /** Bytes of one message each way. */
  bytes: number;
  /** p50 of this target over p50 of the raw floor in the same run (absent without the raw baseline). */
  ratioToRaw?: number;
  /** The ceiling for edgeml's ratio to the floor, where one is set. */
  ceiling?: number;
}

/** Ceilings on edgeml p50 / raw p50 (issue 2). */
export const RATIO_TARGETS: Partial<Record<CaseName, number>> = { small: 1.3, cams4: 1.1, '10mb': 1.1 };

/** Options of the round-trip set. */
export interface RoundTripOptions {
  cases: readonly CaseName[];
  baselines: readonly BaselineName[];
  budget: Budget;
  /** Progress lines (to stderr), so a long run shows where it is. */
  progress?: (line: string) => void;
}

function targetsFor(baselines: readonly BaselineName[]): RoundTripTarget[] {
  const targets: RoundTripTarget[] = [new EdgemlTarget()];
  if (baselines.includes('raw')) targets.push(new RawZmqTarget());
  if (baselines.includes('ws')) targets.push(new WsJsonTarget());
  return targets;
}

/** The budget of the heavy baselines: a third of the time (their figures are ratios of 10x and more). */
function shorter(budget: Budget): Budget {
  return budget.kind === 'seconds' ? { kind: 'seconds', seconds: budget.seconds / 3 } : budget;
}

/** Runs the round-trip set and returns one row per target and case. */
export async function runRoundTrip(options: RoundTripOptions): Promise<ResultRow[]> {
  const targets = targetsFor(options.baselines);
  const rows: ResultRow[] = [];
  try {
    for (const t of targets) await t.open();
    for (const name of options.cases) {
      const c = makeCase(name);
      const summaries: Summary[] = [];
      // edgeml and the floor first, interleaved; then the heavy baselines, interleaved among themselves.
      for (const heavy of [false, true]) {
        const trips = new Map<string, RoundTrip>();
        for (const t of targets) if (t.heavy === heavy && t.supports(c)) trips.set(t.name, await t.prepare(c));
        if (trips.size === 0) continue;
        options.progress?.(`${c.name}: ${[...trips.keys()].join(', ')} ...`);
        const samples = await interleave(trips, heavy ? shorter(options.budget) : options.budget);
        for (const [target, s] of samples) summaries.push(summarise(target, s, c.bytes));
      }
      const floor = summaries.find((s) => s.target === 'raw-zmq')?.p50;
      for (const s of summaries) {
        const row: ResultRow = { set: 'roundtrip', case: c.name, description: c.description, bytes: c.bytes, ...s };
        if (floor !== undefined) row.ratioToRaw = s.p50 / floor;
        const ceiling = RATIO_TARGETS[name];
        if (s.target === 'edgeml' && ceiling !== undefined) row.ceiling = ceiling;
        rows.push(row);
      }
    }
  } finally {
    for (const t of targets) await t.close();
  }
  return rows;
}
