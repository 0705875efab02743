/**
 * Small statistics helpers for per-server stats: latency percentiles over a sliding window of samples.
 *
 * @module
 */

/** Latency summary of one key, in milliseconds. */
export interface LatencySummary {
  /** Samples recorded since start (the percentiles cover the most recent ones). */
  count: number;
  p50: number;
  p90: number;
  p99: number;
}

const WINDOW = 1024;

/** Keeps the last 1024 latency samples per key and reports percentiles. */
export class LatencyRecorder {
  private readonly series = new Map<string, { samples: Float64Array; count: number }>();

  /** Records one sample of `ms` milliseconds under `key`. */
  record(key: string, ms: number): void {
    let s = this.series.get(key);
    if (!s) {
      // Bounded: at most 4096 distinct keys are tracked.
      if (this.series.size >= 4096) return;
      s = { samples: new Float64Array(WINDOW), count: 0 };
      this.series.set(key, s);
    }
    s.samples[s.count % WINDOW] = ms;
    s.count++;
  }

  /** Percentiles per key. */
  snapshot(): Record<string, LatencySummary> {
    const out: Record<string, LatencySummary> = {};
    for (const [key, s] of this.series) {
      const n = Math.min(s.count, WINDOW);
      const sorted = s.samples.slice(0, n).sort();
      const at = (q: number): number => sorted[Math.min(n - 1, Math.floor(q * n))] ?? 0;
      out[key] = { count: s.count, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
    }
    return out;
  }
}
