/**
 * Client side of the "link" set, run inside the cameras' network namespace by bench/link.ts: four 480 × 640 cameras
 * at 30 Hz, each with at most `MAX_IN_FLIGHT` calls out (a frame captured while that many are out is dropped, as a
 * live camera would), for one mode: `raw` (the tensor), `jpeg` (encoded here at quality 80) or `small` (resized and
 * encoded to the server's declared 224 × 224 JPEG with `resize: 'server'`). Prints one JSON line with the results.
 *
 * Usage: node link-client.js <target url> <mode> <seconds>
 *
 * @module
 */

import { encodeImage, InferenceClient, type Tensor } from '../src/index.js';
import { cameraFrame } from './frames.js';

const [target = '', mode = 'raw', secondsArg = '5'] = process.argv.slice(2);
const seconds = Number(secondsArg);
const CAMERAS = 4;
const HZ = 30;
const MAX_IN_FLIGHT = 3;
const WARMUP_MS = 1000;

const frames: Tensor[][] = Array.from({ length: CAMERAS }, (_, c) =>
  Array.from({ length: 3 }, (_, i) => cameraFrame(c * 10 + i)),
);
const client = await InferenceClient.connect(target, {
  timeoutMs: 5000,
  ...(mode === 'small' ? { resize: 'server' as const } : {}),
});
const iface = mode === 'raw' ? 'raw' : mode === 'jpeg' ? 'jpeg' : 'small';
await client.call(iface, { image: mode === 'jpeg' ? await encodeImage(frames[0]![0]!) : frames[0]![0]! });

const serverCpu = async (): Promise<number> => (await client.call('cpu')) as number;
const latencies: number[] = [];
const encodeTimes: number[] = [];
let delivered = 0;
let dropped = 0;
let failed = 0;
const sizes = await Promise.all(
  frames.flat().map(async (f) => (await encodeImage(f, mode === 'small' ? { width: 224, height: 224 } : {})).bytes),
);
const frameBytes = mode === 'raw' ? 480 * 640 * 3 : sizes.reduce((a, b) => a + b.byteLength, 0) / sizes.length;
let measuring = false;
const started = performance.now();
const end = started + WARMUP_MS + seconds * 1000;
let cpu0 = process.cpuUsage();
let server0 = 0;
const inFlight = new Array<number>(CAMERAS).fill(0);
const pending: Promise<void>[] = [];

async function send(camera: number, tick: number): Promise<void> {
  const captured = performance.now();
  const frame = frames[camera]![tick % 3]!;
  const counted = measuring;
  try {
    const payload = mode === 'jpeg' ? { image: await encodeImage(frame, { quality: 80 }) } : { image: frame };
    if (counted && mode === 'jpeg') encodeTimes.push(performance.now() - captured);
    await client.call(iface, payload);
    if (counted) {
      delivered++;
      latencies.push(performance.now() - captured);
    }
  } catch {
    if (counted) failed++;
  }
}

await Promise.all(
  Array.from({ length: CAMERAS }, async (_, camera) => {
    const period = 1000 / HZ;
    let tick = 0;
    let next = started + (camera * period) / CAMERAS;
    while (next < end) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!measuring && performance.now() >= started + WARMUP_MS) {
        measuring = true;
        cpu0 = process.cpuUsage();
        server0 = await serverCpu();
      }
      if (inFlight[camera]! >= MAX_IN_FLIGHT) {
        if (measuring) dropped++;
      } else {
        inFlight[camera]!++;
        pending.push(send(camera, tick).finally(() => inFlight[camera]!--));
      }
      tick++;
      next += period;
    }
  }),
);
measuring = false;
await Promise.all(pending);
const cpu = process.cpuUsage(cpu0);
const serverMs = (await serverCpu()) - server0;
await client.close();
latencies.sort((a, b) => a - b);
encodeTimes.sort((a, b) => a - b);
const at = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? Number.NaN;
const q = (p: number): number => at(latencies, p);
process.stdout.write(
  `${JSON.stringify({
    mode,
    delivered,
    dropped,
    failed,
    fpsPerCamera: delivered / seconds / CAMERAS,
    p50: q(0.5),
    p99: q(0.99),
    encodeP50: at(encodeTimes, 0.5),
    encodeP99: at(encodeTimes, 0.99),
    clientCpuMsPerFrame: (cpu.user + cpu.system) / 1000 / Math.max(1, delivered),
    serverCpuMsPerFrame: serverMs / Math.max(1, delivered),
    frameBytes,
  })}\n`,
);
process.exit(0);
