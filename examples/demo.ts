/**
 * `npm run demo`: edgeml on localhost, in one process, ending by itself.
 *
 * Each mode is one section (a function that sets up its servers and clients, runs for a few seconds, prints a short
 * summary and closes everything). Sections run one after the other; add a mode by adding a function to `SECTIONS`.
 *
 * Options: `--seconds N` (per section, default 3), `--clients N` (default 3).
 */
import { parseArgs } from 'node:util';
import { InferenceClient, InferenceServer, Tensor } from '../src/index.js';

const HOST = '127.0.0.1';
const HEIGHT = 480;
const WIDTH = 640;

/** Settings every section gets. */
interface DemoSettings {
  /** How long each section streams. */
  seconds: number;
  /** Clients (edge devices) per section. */
  clients: number;
}

/** One section of the demo. */
interface Section {
  title: string;
  run(settings: DemoSettings): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Shared helpers: synthetic camera frames, latency summary, printing.

/** A synthetic camera frame: a gradient whose brightness depends on `seed`. */
function cameraFrame(seed: number): Tensor<'uint8'> {
  const data = new Uint8Array(HEIGHT * WIDTH * 3);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const i = (y * WIDTH + x) * 3;
      data[i] = (x + seed * 40) & 0xff;
      data[i + 1] = (y + seed * 20) & 0xff;
      data[i + 2] = (x + y + seed * 10) & 0xff;
    }
  }
  return new Tensor('uint8', data, [HEIGHT, WIDTH, 3]);
}

/** Mean of each colour channel of an HxWx3 uint8 frame: the "real work" of the detect interface. */
function channelMeans(frame: Tensor): [number, number, number] {
  const d = frame.data as Uint8Array;
  let r = 0;
  let g = 0;
  let b = 0;
  for (let i = 0; i < d.length; i += 3) {
    r += d[i]!;
    g += d[i + 1]!;
    b += d[i + 2]!;
  }
  const n = d.length / 3;
  return [r / n, g / n, b / n];
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function print(lines: readonly string[]): void {
  for (const line of lines) process.stdout.write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// Inference mode: a GPU machine serves a "detect" interface; edge devices stream camera frames to it.

/** What the detect interface returns. */
interface Detection {
  brightness: number[];
  stateNorm: number;
  label: 'bright' | 'dark';
}

function detect(payload: unknown): Detection {
  const { frame, state } = payload as { frame: Tensor; state: Tensor };
  if (!(frame instanceof Tensor) || frame.dtype !== 'uint8' || frame.shape.length !== 3 || frame.shape[2] !== 3) {
    throw new TypeError('detect expects {frame: uint8 HxWx3 tensor, state: float32[7] tensor}');
  }
  const brightness = channelMeans(frame);
  let norm = 0;
  for (const v of state.data as Float32Array) norm += v * v;
  const mean = (brightness[0] + brightness[1] + brightness[2]) / 3;
  return { brightness, stateNorm: Math.sqrt(norm), label: mean >= 128 ? 'bright' : 'dark' };
}

/** One edge device: calls detect with its frames until `until`, checking every answer; returns its latencies. */
async function edgeDevice(client: InferenceClient, id: number, until: number): Promise<number[]> {
  const frames = [0, 1, 2, 3].map((k) => cameraFrame(id * 4 + k));
  const expected = frames.map(channelMeans);
  const state = new Tensor('float32', new Float32Array(7), [7]);
  const latencies: number[] = [];
  for (let n = 0; performance.now() < until; n++) {
    const k = n % frames.length;
    state.data[0] = n;
    const t = performance.now();
    const result = await client.call<Detection>('detect', { frame: frames[k], state }, { timeoutMs: 5_000 });
    latencies.push(performance.now() - t);
    if (Math.abs(result.brightness[0]! - expected[k]![0]) > 1e-6) {
      throw new Error(`device ${id}: wrong brightness ${result.brightness[0]} for frame ${k}`);
    }
  }
  return latencies;
}

async function inferenceSection(settings: DemoSettings): Promise<void> {
  const server = new InferenceServer({ port: 0, host: HOST });
  server.registerInterface('detect', detect);
  await server.start();
  const clients = Array.from({ length: settings.clients }, () => new InferenceClient(HOST, server.port));
  try {
    print([
      `server on ${HOST}:${server.port}, interfaces: ${(await clients[0]!.interfaces()).join(', ')}`,
      `${clients.length} clients stream uint8 ${HEIGHT}x${WIDTH}x3 frames + float32[7] state for ${settings.seconds} s ...`,
    ]);
    const start = performance.now();
    const until = start + settings.seconds * 1000;
    const perClient = await Promise.all(clients.map((c, i) => edgeDevice(c, i, until)));
    const elapsed = (performance.now() - start) / 1000;
    const all = perClient.flat().sort((a, b) => a - b);
    const frameBytes = HEIGHT * WIDTH * 3 + 7 * 4;
    const stats = server.stats();
    print([
      `calls        ${all.length} (${perClient.map((l) => l.length).join(' + ')}), all answers checked`,
      `throughput   ${(all.length / elapsed).toFixed(0)} calls/s, ${((all.length * frameBytes) / elapsed / 1e6).toFixed(0)} MB/s up`,
      `latency      p50 ${percentile(all, 0.5).toFixed(2)} ms, p99 ${percentile(all, 0.99).toFixed(2)} ms (round trip)`,
      `server       ${stats.requests} requests, ${stats.errors} errors, ${(stats.bytesIn / 1e6).toFixed(0)} MB in`,
    ]);
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** The sections, in order. An action-mode section goes here next to the inference one. */
const SECTIONS: readonly Section[] = [{ title: 'Inference mode', run: inferenceSection }];

function settingsFromArgs(): DemoSettings {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '3' }, clients: { type: 'string', default: '3' } },
  });
  const seconds = Number(values.seconds);
  const clients = Number(values.clients);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got ${values.seconds}`);
  if (!Number.isInteger(clients) || clients < 1) throw new Error(`--clients must be a positive integer`);
  return { seconds, clients };
}

async function main(): Promise<void> {
  const settings = settingsFromArgs();
  for (const section of SECTIONS) {
    print([`== ${section.title} ==`]);
    await section.run(settings);
    print(['']);
  }
  print(['demo done']);
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
