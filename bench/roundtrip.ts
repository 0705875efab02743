/**
 * Case sets "roundtrip" and "upload": one client, one call at a time. Round trip: the payload goes to an echo server
 * and comes back (issue 2); upload: the payload goes up and a small acknowledgement comes back (an edge device
 * streaming camera frames to a GPU server that keeps them). edgeml is measured against the raw zeromq.js floor,
 * interleaved in one run, then against JSON over WebSocket (see {@link RoundTripTarget.heavy}).
 *
 * @module
 */
import { WsJsonTarget } from './baseline-ws.js';
import { RawZmqTarget } from './baseline-zmq.js';
import {
  type Budget,
  interleave,
  pairedRatio,
  type ResultRow,
  type RoundTrip,
  type RoundTripTarget,
  type Summary,
  summarise,
} from './measure.js';
import { type CaseName, makeCase } from './payloads.js';
import type { Ports } from './servers.js';
import { EdgemlTarget, type Mode } from './target-edgeml.js';

/** Baselines edgeml can be compared with. */
export const BASELINES = ['raw', 'ws'] as const;
/** A baseline name as given to `--baselines`. */
export type BaselineName = (typeof BASELINES)[number];

/** Ceilings on edgeml p50 / raw p50 of the round trip (issue 6). */
export const RATIO_TARGETS: Partial<Record<CaseName, number>> = {
  small: 1.2,
  img224: 1.15,
  cams4: 1.05,
  '10mb': 1.05,
};

/** edgeml must be at least this many times faster than JSON over WebSocket on cams4 (issue 6). */
export const WS_SPEEDUP_TARGET = 10;

/** Options of the round-trip and upload sets. */
export interface RoundTripOptions {
  mode: Mode;
  cases: readonly CaseName[];
  baselines: readonly BaselineName[];
  budget: Budget;
  ports: Ports;
  /** Progress lines (to stderr), so a long run shows where it is. */
  progress?: (line: string) => void;
}

function targetsFor(options: RoundTripOptions): RoundTripTarget[] {
  const { ports, mode, baselines } = options;
  const targets: RoundTripTarget[] = [new EdgemlTarget(ports.edgeml, mode)];
  if (baselines.includes('raw'))
    targets.push(new RawZmqTarget(mode === 'echo' ? ports.rawEcho : ports.rawUpload, mode));
  if (baselines.includes('ws') && mode === 'echo') targets.push(new WsJsonTarget(ports.ws));
  return targets;
}

/** The budget of the heavy baselines: a third of the time (their figures are ratios of 10x and more). */
function shorter(budget: Budget): Budget {
  return budget.kind === 'seconds' ? { kind: 'seconds', seconds: budget.seconds / 3 } : budget;
}

/** Runs the set and returns one row per target and case. */
export async function runRoundTrip(options: RoundTripOptions): Promise<ResultRow[]> {
  const set = options.mode === 'echo' ? 'roundtrip' : 'upload';
  const targets = targetsFor(options);
  const rows: ResultRow[] = [];
  try {
    for (const t of targets) await t.open();
    for (const name of options.cases) {
      const c = makeCase(name);
      const summaries: Summary[] = [];
      let paired: number | undefined;
      // edgeml and the floor first, interleaved; then the heavy baselines, interleaved among themselves.
      for (const heavy of [false, true]) {
        const trips = new Map<string, RoundTrip>();
        for (const t of targets) if (t.heavy === heavy && t.supports(c)) trips.set(t.name, await t.prepare(c));
        if (trips.size === 0) continue;
        options.progress?.(`${set} ${c.name}: ${[...trips.keys()].join(', ')} ...`);
        const run = await interleave(trips, heavy ? shorter(options.budget) : options.budget);
        for (const [target, s] of run.samples) summaries.push(summarise(target, s, c.bytes, set === 'upload' ? 1 : 2));
        if (!heavy) paired = pairedRatio(run, 'edgeml', 'raw-zmq');
      }
      const floor = summaries.find((s) => s.target === 'raw-zmq')?.p50;
      for (const s of summaries) {
        const row: ResultRow = { set, case: c.name, description: c.description, bytes: c.bytes, ...s };
        if (floor !== undefined) {
          row.extra = { p50Ratio: s.p50 / floor };
          // edgeml against the floor it was interleaved with: the paired ratio; the heavy baselines: p50 over p50.
          row.ratioToRaw = s.target === 'edgeml' && paired !== undefined ? paired : s.p50 / floor;
        }
        const ceiling = set === 'roundtrip' ? RATIO_TARGETS[name] : undefined;
        if (s.target === 'edgeml' && ceiling !== undefined) row.ceiling = ceiling;
        rows.push(row);
      }
    }
  } finally {
    for (const t of targets) await t.close();
  }
  return rows;
}
