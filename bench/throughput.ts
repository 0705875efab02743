/**
 * Case set "throughput": calls per second with 1, 8 and 64 concurrent clients, each its own connection calling
 * back to back, for the small and img224 payloads (echo). edgeml clients against raw zeromq.js DEALERs sending the
 * same bytes, in alternating windows of a quarter second.
 *
 * @module
 */
import type { InferenceClient } from '../src/modes/inference/client.js';
import { rawDealer, rawTrip, requestFrames } from './baseline-zmq.js';
import { concurrentWindow, interleaveWindows, type ResultRow, summarise, type Window } from './measure.js';
import { type CaseName, makeCase } from './payloads.js';
import type { Ports } from './servers.js';
import { edgemlClient } from './target-edgeml.js';

/** Client counts measured. */
export const CONCURRENCY = [1, 8, 64] as const;
/** Payloads measured. */
export const THROUGHPUT_CASES: readonly CaseName[] = ['small', 'img224'];

/** Options of the throughput set. */
export interface ThroughputOptions {
  ports: Ports;
  /** Measuring time per target and configuration, in seconds. */
  seconds: number;
  raw: boolean;
  progress?: (line: string) => void;
}

/** Runs the set; one row per target, payload and client count. */
export async function runThroughput(options: ThroughputOptions): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const name of THROUGHPUT_CASES) {
    const c = makeCase(name);
    for (const n of CONCURRENCY) {
      options.progress?.(`throughput ${name} x${n} ...`);
      const clients: InferenceClient[] = [];
      const dealers: ReturnType<typeof rawDealer>[] = [];
      try {
        for (let i = 0; i < n; i++) clients.push(edgemlClient(options.ports.edgeml));
        const windows = new Map<string, Window>();
        windows.set('edgeml', (ms) =>
          concurrentWindow(n, ms, async (w) => {
            await clients[w]!.call('echo', c.payload);
          }),
        );
        if (options.raw) {
          for (let i = 0; i < n; i++) dealers.push(rawDealer(options.ports.rawEcho));
          const frames = requestFrames(c, 'echo');
          windows.set('raw-zmq', (ms) =>
            concurrentWindow(n, ms, async (w) => {
              await rawTrip(dealers[w]!, frames);
            }),
          );
        }
        const results = await interleaveWindows(windows, options.seconds);
        const raw = results.get('raw-zmq');
        const rawRate = raw ? raw.latencies.length / raw.elapsedMs : undefined;
        for (const [target, r] of results) {
          const s = summarise(target, r.latencies, c.bytes, 2, r.elapsedMs);
          const row: ResultRow = {
            set: 'throughput',
            case: `${name} x${n}`,
            description: `${c.description}, ${n} client${n > 1 ? 's' : ''}`,
            bytes: c.bytes,
            ...s,
          };
          // Time per call over the floor's: the floor's calls/s over this target's.
          if (rawRate !== undefined) row.ratioToRaw = rawRate / (r.latencies.length / r.elapsedMs);
          row.extra = { clients: n };
          rows.push(row);
        }
      } finally {
        for (const client of clients) client.close();
        for (const d of dealers) d.close();
      }
    }
  }
  return rows;
}
