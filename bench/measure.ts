/**
 * Measurement core shared by every case set: the round-trip target interface, the interleaved runner (alternating
 * batches of every target so machine noise hits all of them alike, warm-up excluded) and the summary statistics.
 *
 * @module
 */
import type { BenchCase } from './payloads.js';

/** One round trip of a prepared case; rejects when the echo came back wrong. */
export type RoundTrip = () => Promise<void>;

/** Something that can echo a payload: edgeml itself or a baseline. */
export interface RoundTripTarget {
  /** Name in the report: `edgeml`, `raw-zmq`, `ws-json`. */
  readonly name: string;
  /**
   * A target that allocates so much per call (the JSON baseline builds megabytes of strings) that its garbage would be
   * collected on the time of whatever runs next. Heavy targets are measured after edgeml and the floor, on their own.
   */
  readonly heavy: boolean;
  /** Starts the servers and clients this target needs. */
  open(): Promise<void>;
  /** Whether this target runs `c` (the WebSocket baseline runs only the camera cases). */
  supports(c: BenchCase): boolean;
  /** Prepares the calls of case `c` (pre-encoding whatever the target would not encode per call). */
  prepare(c: BenchCase): Promise<RoundTrip>;
  /** Closes everything {@link open} opened. */
  close(): Promise<void>;
}

/** How long to measure one case. */
export type Budget = { kind: 'seconds'; seconds: number } | { kind: 'iterations'; iterations: number };

/** One line of the report: one target on one case of one set. */
export interface ResultRow extends Summary {
  /** Case set: `roundtrip`, `upload`, `throughput`, `broadcast`, `stream`, `memory`, `batching`, `codec`. */
  set: string;
  case: string;
  description: string;
  /** Bytes of one message (all frames), or of the payload where the set says so. */
  bytes: number;
  /**
   * This target's cost over the raw zeromq.js floor's in the same run (p50 latency, time per call, time to deliver
   * or peak memory, as the set says): 1.10 means 10% more than the floor. Absent without the raw baseline.
   */
  ratioToRaw?: number;
  /** The ceiling for edgeml's ratio to the floor, where one is set. */
  ceiling?: number;
  /** Figures particular to the set (delivered rate, resident memory, batch sizes, ...). */
  extra?: Record<string, number | string>;
}

/** Latency summary of one target on one case. */
export interface Summary {
  target: string;
  /** Measured round trips (warm-up excluded). */
  count: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  /** Payload bytes both ways divided by the time spent in the measured round trips, in MB/s (10^6 bytes). */
  mbPerSec: number;
  /** Round trips per second while measuring. */
  callsPerSec: number;
}

/** Warm-up per target and case: at least this many round trips ... */
const WARMUP_MIN = 5;
/** ... and until this much time has passed (or {@link WARMUP_MAX} round trips). */
const WARMUP_MS = 300;
const WARMUP_MAX = 2_000;
/**
 * Each batch of one target aims at this duration, so targets alternate several times a second. A target slower than
 * this per round trip runs one round trip every few rounds instead, so every target gets about the same share of
 * the time whatever its speed.
 */
const BATCH_MS = 20;
const BATCH_MAX = 500;
/**
 * Targets at most this many times slower per round trip than the fastest share its batch size. edgeml and the raw
 * floor always do (the heavy JSON baseline runs on its own); a warm-up disturbed by another process must not split
 * them into different schedules.
 */
const SAME_SPEED = 10;
/** Batches of at least this many round trips start with one that is not recorded. */
const RESETTLE_MIN_BATCH = 5;
/** With a time budget, measuring goes on past the deadline until every target has at least this many samples. */
const MIN_SAMPLES = 10;

/** The value at quantile `q` (nearest rank) of `sorted`. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/**
 * Summarises `samples` (ms) of round trips that each carried `bytes` bytes each way (`ways`: 2 for an echo, 1 for an
 * upload or a broadcast). `elapsedMs`, where given, is the time the samples were taken in (concurrent calls overlap);
 * otherwise the samples' sum.
 */
export function summarise(
  target: string,
  samples: readonly number[],
  bytes: number,
  ways = 2,
  elapsedMs?: number,
): Summary {
  const sorted = Float64Array.from(samples).sort();
  let total = 0;
  for (const s of samples) total += s;
  const seconds = (elapsedMs ?? total) / 1000;
  return {
    target,
    count: samples.length,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    mean: samples.length ? total / samples.length : Number.NaN,
    mbPerSec: seconds > 0 ? (ways * bytes * samples.length) / seconds / 1e6 : 0,
    callsPerSec: seconds > 0 ? samples.length / seconds : 0,
  };
}

/** Warms `trip` up; returns a typical time of one of its round trips in ms. */
async function warmUp(trip: RoundTrip): Promise<number> {
  const start = performance.now();
  const times: number[] = [];
  while (times.length < WARMUP_MIN || (performance.now() - start < WARMUP_MS && times.length < WARMUP_MAX)) {
    const t = performance.now();
    await trip();
    times.push(performance.now() - t);
  }
  // The median of the second half: the first calls (JIT, on both sides of a connection) and other processes' bursts
  // must not make a target look slower than it is, or it would be scheduled as a slow one.
  return quantile(Float64Array.from(times.slice(times.length >> 1)).sort(), 0.5);
}

/** What {@link interleave} measured. */
export interface Interleaved {
  /** Latency samples per target, in milliseconds. */
  samples: Map<string, number[]>;
  /** Per target, the median latency of its batch in each round (sparse: rounds it did not run are empty). */
  batchMedians: Map<string, number[]>;
}

interface Schedule {
  /** Round trips per batch. */
  batch: number;
  /** The target runs in every `every`-th round. */
  every: number;
}

/**
 * Runs `trips` (one per target name) interleaved on one case: warm-up first (not recorded), then rounds in which every
 * target runs one batch (a much slower target only every few rounds), in a random order, until the budget is spent.
 * Returns the latency samples per target, in milliseconds.
 */
export async function interleave(trips: ReadonlyMap<string, RoundTrip>, budget: Budget): Promise<Interleaved> {
  const names = [...trips.keys()];
  const perTrip = new Map<string, number>();
  for (const name of names) perTrip.set(name, Math.max(await warmUp(trips.get(name)!), 1e-3));
  const fastest = Math.min(...perTrip.values());
  // With a fixed number of iterations, at least about ten batches per target, so the targets still alternate.
  const most = budget.kind === 'iterations' ? Math.ceil(budget.iterations / 10) : BATCH_MAX;
  const batchOf = (ms: number): number => Math.max(1, Math.min(most, Math.round(BATCH_MS / ms)));
  const schedule = new Map<string, Schedule>();
  for (const name of names) {
    const ms = perTrip.get(name)!;
    // Targets of about the same speed (edgeml and the raw floor) run batches of the same count, so each ratio
    // compares as many round trips from the same stretches of time; much slower ones get about the same time share.
    schedule.set(
      name,
      ms <= SAME_SPEED * fastest
        ? { batch: batchOf(fastest), every: 1 }
        : { batch: batchOf(ms), every: Math.max(1, Math.round(ms / BATCH_MS)) },
    );
  }
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  const batchMedians = new Map<string, number[]>(names.map((n) => [n, []]));
  const deadline = budget.kind === 'seconds' ? performance.now() + budget.seconds * 1000 : Number.POSITIVE_INFINITY;
  const wanted = (name: string): number => {
    const have = samples.get(name)!.length;
    if (budget.kind === 'iterations') return budget.iterations - have;
    return performance.now() < deadline ? Number.POSITIVE_INFINITY : MIN_SAMPLES - have;
  };
  for (let round = 0; names.some((n) => wanted(n) > 0); round++) {
    // A fresh random order each round: whichever target follows another pays for its garbage, so no target may
    // always follow the same one (a fixed rotation lines up with a slow target's every-few-rounds schedule).
    const order = names.filter((n) => round % schedule.get(n)!.every === 0);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const name of order) {
      const { batch } = schedule.get(name)!;
      const out = samples.get(name)!;
      const trip = trips.get(name)!;
      const n = Math.min(batch, wanted(name));
      // The first round trip after another target ran finds caches (on both sides) full of that target's code and
      // data; in longer batches it is run but not recorded, so the ratio compares steady states, as an application
      // calling only one of them would see.
      if (n > 0 && batch >= RESETTLE_MIN_BATCH) await trip();
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await trip();
        out.push(performance.now() - t);
      }
      if (n > 0) batchMedians.get(name)![round] = quantile(Float64Array.from(out.slice(out.length - n)).sort(), 0.5);
    }
  }
  return { samples, batchMedians };
}

/**
 * The paired ratio of target `a` to target `b`: over the rounds in which both ran, the median of (a's batch median
 * over b's). Each pair of batches ran within milliseconds of each other, so a change of the machine's load during the
 * run cancels out, which it does not in the ratio of the two overall p50s.
 */
export function pairedRatio(run: Interleaved, a: string, b: string): number | undefined {
  const am = run.batchMedians.get(a);
  const bm = run.batchMedians.get(b);
  if (!am || !bm) return undefined;
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(am.length, bm.length); i++) {
    const x = am[i];
    const y = bm[i];
    if (x !== undefined && y !== undefined && y > 0) ratios.push(x / y);
  }
  return ratios.length > 0 ? quantile(Float64Array.from(ratios).sort(), 0.5) : undefined;
}

/** Calls a concurrent target completes in one window: their latencies (ms) and the window's real length (ms). */
export interface WindowResult {
  latencies: number[];
  elapsedMs: number;
}

/** Runs a concurrent target for about `ms` milliseconds (every worker stops starting calls then, and finishes). */
export type Window = (ms: number) => Promise<WindowResult>;

/** Windows of each target run this long, alternating between targets. */
const WINDOW_MS = 250;

/**
 * Runs `windows` (one per target name) interleaved: a warm-up window each (not recorded), then rounds in which every
 * target runs one window, in a random order each round, until each has run `seconds` in total.
 */
export async function interleaveWindows(
  windows: ReadonlyMap<string, Window>,
  seconds: number,
): Promise<Map<string, WindowResult>> {
  const names = [...windows.keys()];
  for (const name of names) await windows.get(name)!(WINDOW_MS);
  const out = new Map<string, WindowResult>(names.map((n) => [n, { latencies: [], elapsedMs: 0 }]));
  const rounds = Math.max(2, Math.round((seconds * 1000) / WINDOW_MS));
  for (let round = 0; round < rounds; round++) {
    const order = [...names];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const name of order) {
      const r = await windows.get(name)!(WINDOW_MS);
      const acc = out.get(name)!;
      for (const l of r.latencies) acc.latencies.push(l);
      acc.elapsedMs += r.elapsedMs;
    }
  }
  return out;
}

/** Runs `workers` loops of `call` for about `ms` ms; returns the latencies of the calls and the time taken. */
export async function concurrentWindow(
  workers: number,
  ms: number,
  call: (worker: number) => Promise<void>,
): Promise<WindowResult> {
  const latencies: number[] = [];
  const start = performance.now();
  const stop = start + ms;
  const loops: Promise<void>[] = [];
  for (let w = 0; w < workers; w++) {
    loops.push(
      (async () => {
        while (performance.now() < stop) {
          const t = performance.now();
          await call(w);
          latencies.push(performance.now() - t);
        }
      })(),
    );
  }
  await Promise.all(loops);
  return { latencies, elapsedMs: performance.now() - start };
}
