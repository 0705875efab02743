/**
 * Per-method server statistics: call and error counts, bytes in and out, and latency percentiles over a sliding
 * window of samples.
 *
 * @module
 */

/** Counters of one method (or method and name: `call:classify`, `train:agent1`), latencies in milliseconds. */
export interface MethodStats {
  /** Calls answered (successfully or with an error). */
  calls: number;
  /** Calls answered with an error. */
  errors: number;
  /** Latency percentiles over the most recent calls (0 before the first). */
  p50: number;
  p90: number;
  p99: number;
  /** Bytes of the requests and of the replies, all frames together. */
  bytesIn: number;
  bytesOut: number;
  /** The latencies of all answered calls added up, in ms (average: `totalMs / calls`). */
  totalMs: number;
}

const WINDOW = 1024;
/** Distinct keys tracked at most (keys come from registered names, but a bound keeps memory fixed regardless). */
const MAX_KEYS = 4096;

interface Series {
  samples: Float64Array;
  calls: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  totalMs: number;
}

/** Keeps counters and the last 1024 latency samples per key. */
export class MethodStatsRecorder {
  private readonly series = new Map<string, Series>();

  /** Records one answered call under `key`. */
  record(key: string, ms: number, ok: boolean, bytesIn: number, bytesOut: number): void {
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= MAX_KEYS) return;
      s = { samples: new Float64Array(WINDOW), calls: 0, errors: 0, bytesIn: 0, bytesOut: 0, totalMs: 0 };
      this.series.set(key, s);
    }
    s.samples[s.calls % WINDOW] = ms;
    s.calls++;
    if (!ok) s.errors++;
    s.bytesIn += bytesIn;
    s.bytesOut += bytesOut;
    s.totalMs += ms;
  }

  /** Counters and percentiles per key. */
  snapshot(): Record<string, MethodStats> {
    const out: Record<string, MethodStats> = {};
    for (const [key, s] of this.series) {
      const n = Math.min(s.calls, WINDOW);
      const sorted = s.samples.slice(0, n).sort();
      const at = (q: number): number => sorted[Math.min(n - 1, Math.floor(q * n))] ?? 0;
      out[key] = {
        calls: s.calls,
        errors: s.errors,
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        totalMs: s.totalMs,
      };
    }
    return out;
  }
}

/**
 * Keeps the last 1024 latency samples per key and reports percentiles (for clients and tools that time their own
 * round trips).
 */
export class LatencyRecorder {
  private readonly methods = new MethodStatsRecorder();

  /** Records one sample of `ms` milliseconds under `key`. */
  record(key: string, ms: number): void {
    this.methods.record(key, ms, true, 0, 0);
  }

  /** Percentiles per key. */
  snapshot(): Record<string, { count: number; p50: number; p90: number; p99: number }> {
    const out: Record<string, { count: number; p50: number; p90: number; p99: number }> = {};
    for (const [k, s] of Object.entries(this.methods.snapshot())) {
      out[k] = { count: s.calls, p50: s.p50, p90: s.p90, p99: s.p99 };
    }
    return out;
  }
}
