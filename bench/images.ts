/**
 * Case set "images": encode and decode time per 480 × 640 × 3 camera frame, JPEG quality 80, for each image backend
 * (sharp, the WASM codec in a worker), one frame at a time. Wall time is what a caller waits; CPU time is the whole
 * process's (main thread, libvips threads and the worker) per frame. This measurement picks the default backend
 * (src/image/codec.ts, docs/performance.md "Image codecs").
 *
 * @module
 */

import type { ImageBackendName } from '../src/image/backend.js';
import { decodeImage, encodeImage, imageBackend } from '../src/image/codec.js';
import { cameraFrame } from './frames.js';
import { quantile, type ResultRow } from './measure.js';

const ITERATIONS = 40;

async function time(op: () => Promise<unknown>): Promise<{ p50: number; p90: number; cpu: number }> {
  for (let i = 0; i < 5; i++) await op();
  const times = new Float64Array(ITERATIONS);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i++) {
    const t = performance.now();
    await op();
    times[i] = performance.now() - t;
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort();
  return { p50: quantile(times, 0.5), p90: quantile(times, 0.9), cpu: (cpu.user + cpu.system) / 1000 / ITERATIONS };
}

/** Runs the set: per backend, encode, decode, and resize-then-encode to 224 × 224. */
export async function runImages(progress?: (line: string) => void): Promise<ResultRow[]> {
  const frame = cameraFrame(1);
  const rows: ResultRow[] = [];
  for (const backend of ['sharp', 'wasm'] as ImageBackendName[]) {
    try {
      await imageBackend('jpeg', { backend });
    } catch {
      progress?.(`images: ${backend} not installed, skipped`);
      continue;
    }
    progress?.(`images: ${backend} ...`);
    const image = await encodeImage(frame, { quality: 80, backend });
    const ops: [string, () => Promise<unknown>, number][] = [
      ['encode 480x640 q80', () => encodeImage(frame, { quality: 80, backend }), image.bytes.byteLength],
      ['decode 480x640', () => decodeImage(image, { backend }), image.bytes.byteLength],
      [
        'resize to 224x224 + encode q80',
        () => encodeImage(frame, { quality: 80, width: 224, height: 224, backend }),
        (await encodeImage(frame, { quality: 80, width: 224, height: 224, backend })).bytes.byteLength,
      ],
    ];
    for (const [name, op, bytes] of ops) {
      const t = await time(op);
      rows.push({
        set: 'images',
        case: name,
        description: name,
        target: backend,
        bytes,
        count: ITERATIONS,
        p50: t.p50,
        p90: t.p90,
        p99: Number.NaN,
        mean: Number.NaN,
        mbPerSec: 0,
        callsPerSec: 1000 / t.p50,
        extra: { cpuMs: t.cpu },
      });
    }
  }
  return rows;
}
