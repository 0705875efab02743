/**
 * Case set "batching" (issue 6, part 3): 32 concurrent clients calling a real model (model.ts, TensorFlow.js on the
 * CPU) on an edgeml server in a child process, through the interface without batching and through the one with
 * dynamic batching, in alternating windows. (TensorFlow.js is loaded by the child only: in this process its heap would
 * make every garbage collection of the other sets slower.) Reports calls per second and latency for both, and the batch sizes the
 * server formed while measuring (`stats().batches`).
 *
 * @module
 */
import type { BatchStats } from '../src/messaging/batching.js';
import type { InferenceClient } from '../src/modes/inference/client.js';
import { Tensor } from '../src/tensor/tensor.js';
import { forkChild, has, nextMessage, stopChild } from './children.js';
import { concurrentWindow, interleaveWindows, type ResultRow, summarise, type Window } from './measure.js';
import { edgemlClient } from './target-edgeml.js';

/** Batch options of the batching set's `batched` interface. */
export const BATCH = { maxBatchSize: 32, maxDelayMs: 2 };

/** Shape of one input image of the model (model.ts). */
export const IMAGE_SHAPE = [32, 32, 3] as const;

/** A deterministic test image for client `i`. */
export function testImage(i: number): Tensor<'uint8'> {
  const data = new Uint8Array(IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]);
  let x = (i + 1) * 2654435761;
  for (let j = 0; j < data.length; j++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[j] = x & 0xff;
  }
  return new Tensor('uint8', data, [...IMAGE_SHAPE]);
}

/** Concurrent clients. */
export const BATCHING_CLIENTS = 32;

/** Options of the batching set. */
export interface BatchingOptions {
  /** Measuring time per variant, in seconds. */
  seconds: number;
  progress?: (line: string) => void;
}

/** Batch sizes formed between two stats snapshots. */
function sizesSince(before: BatchStats, after: BatchStats): { batches: number; items: number; sizes: string } {
  const diff: [number, number][] = [];
  for (const [size, n] of Object.entries(after.sizes)) {
    const d = n - (before.sizes[Number(size)] ?? 0);
    if (d > 0) diff.push([Number(size), d]);
  }
  diff.sort((a, b) => b[1] - a[1]);
  const top = diff.slice(0, 4).map(([s, n]) => `${s}:${n}`);
  return {
    batches: after.batches - before.batches,
    items: after.items - before.items,
    sizes: top.join(' ') + (diff.length > 4 ? ' ...' : ''),
  };
}

/** Runs the batching set: one row per variant. */
export async function runBatching(options: BatchingOptions): Promise<ResultRow[]> {
  options.progress?.(`batching: ${BATCHING_CLIENTS} clients, model on the CPU ...`);
  const child = forkChild('batching-child');
  const clients: InferenceClient[] = [];
  try {
    const ready = (await nextMessage(child, has('port'))) as { port: number; backend: string };
    const port = ready.port;
    const payloads = Array.from({ length: BATCHING_CLIENTS }, (_, i) => ({ image: testImage(i) }));
    for (let i = 0; i < BATCHING_CLIENTS; i++) clients.push(edgemlClient(port));
    // Each caller must get its own prediction: batched and single runs of the same images agree.
    const single = await Promise.all(clients.map((c, i) => c.call('single', payloads[i])));
    const batched = await Promise.all(clients.map((c, i) => c.call('batched', payloads[i])));
    if (
      JSON.stringify(single.map((p) => (p as { label: number }).label)) !==
      JSON.stringify(batched.map((p) => (p as { label: number }).label))
    ) {
      throw new Error('batched predictions differ from single ones');
    }
    const stats = async (): Promise<BatchStats> => {
      const answer = nextMessage(child, has('batches'));
      child.send({ stats: true });
      return (await answer).batches as BatchStats;
    };
    const windows = new Map<string, Window>();
    for (const variant of ['no batching', 'batching']) {
      const method = variant === 'batching' ? 'batched' : 'single';
      windows.set(variant, (ms) =>
        concurrentWindow(BATCHING_CLIENTS, ms, async (w) => {
          await clients[w]!.call(method, payloads[w]);
        }),
      );
    }
    const before = await stats();
    const results = await interleaveWindows(windows, options.seconds);
    const after = await stats();
    const formed = sizesSince(before, after);
    const plain = results.get('no batching')!;
    const plainRate = plain.latencies.length / plain.elapsedMs;
    const rows: ResultRow[] = [];
    for (const [variant, r] of results) {
      const s = summarise(variant, r.latencies, 0, 1, r.elapsedMs);
      const row: ResultRow = {
        set: 'batching',
        case: `mlp32 x${BATCHING_CLIENTS}`,
        description: `MLP 3072-1024-1024-10 on uint8 32x32x3 (TensorFlow.js ${ready.backend}), ${BATCHING_CLIENTS} clients`,
        bytes: 0,
        ...s,
        extra: { speedup: r.latencies.length / r.elapsedMs / plainRate, backend: ready.backend },
      };
      if (variant === 'batching') {
        Object.assign(row.extra!, {
          maxBatchSize: BATCH.maxBatchSize,
          maxDelayMs: BATCH.maxDelayMs,
          batches: formed.batches,
          meanBatch: formed.batches ? formed.items / formed.batches : 0,
          sizes: formed.sizes,
        });
      }
      rows.push(row);
    }
    return rows;
  } finally {
    for (const c of clients) c.close();
    await stopChild(child);
  }
}
