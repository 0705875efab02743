/**
 * `npm run demo`: edgeml on localhost, in one process, ending by itself.
 *
 * Each mode is one section (a function that sets up its servers and clients, runs for a few seconds, prints a short
 * summary and closes everything). Sections run one after the other; add a mode by adding a function to `SECTIONS`.
 *
 * Options: `--seconds N` (per section, default 3), `--clients N` (default 3).
 */
import { parseArgs } from 'node:util';
import {
  ActionClient,
  ActionConfig,
  ActionServer,
  DataTable,
  InferenceClient,
  InferenceServer,
  Tensor,
  TrainerClient,
  TrainerServer,
} from '../src/index.js';
import { CartPole } from '../src/testing.js';

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
    const result = (await client.call('detect', { frame: frames[k], state }, { timeoutMs: 5_000 })) as Detection;
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
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Action mode: the edge device serves observations and actions and streams camera frames at 30 Hz; policy clients
// fetch observations and send actions at 10 Hz while counting the streamed frames.

async function actionSection(settings: DemoSettings): Promise<void> {
  let moves = 0;
  const server = new ActionServer<Record<string, unknown>>(
    { portNumber: 0, broadcastPort: 0, actionKeys: ['move'], observationKeys: ['cam1', 'state'] },
    () => ({ cam1: cameraFrame(moves), state: new Tensor('float32', Float32Array.of(moves, 0, 0, 0, 0, 0, 0), [7]) }),
    (_key, payload) => {
      moves++;
      return { applied: payload };
    },
    { host: HOST },
  );
  await server.start();
  const config = new ActionConfig(server.config);
  const frames = [0, 1, 2, 3].map(cameraFrame);
  let published = 0;
  const stream = setInterval(() => {
    server.publishObs({ cam1: frames[published % frames.length], t: performance.now() });
    published++;
  }, 1000 / 30);
  const clients = await Promise.all(Array.from({ length: settings.clients }, () => ActionClient.connect(HOST, config)));
  try {
    print([
      `edge device on ${HOST}:${server.port}, streaming uint8 ${HEIGHT}x${WIDTH}x3 frames at 30 Hz on :${config.broadcastPort}`,
      `${clients.length} policy clients: obs() + act() at 10 Hz for ${settings.seconds} s, subscribed to the stream ...`,
    ]);
    const ages: number[] = [];
    for (const c of clients) {
      c.registerObsCallback((obs) => {
        ages.push(performance.now() - (obs.t as number));
      });
    }
    const start = performance.now();
    const until = start + settings.seconds * 1000;
    const stepLatencies: number[] = [];
    await Promise.all(
      clients.map(async (c) => {
        for (let tick = start; performance.now() < until; tick += 100) {
          const t = performance.now();
          const obs = await c.obs();
          await c.act('move', { dx: (obs.state as Tensor<'float32'>).data[0]! % 2 });
          stepLatencies.push(performance.now() - t);
          const wait = tick + 100 - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    const streamed = clients.map((c) => c.streamStats());
    const sortedSteps = stepLatencies.sort((a, b) => a - b);
    const sortedAges = ages.sort((a, b) => a - b);
    const delivered = streamed.reduce((n, s) => n + (s?.delivered ?? 0), 0);
    const dropped = streamed.reduce((n, s) => n + (s?.dropped ?? 0), 0);
    print([
      `steps        ${sortedSteps.length} obs()+act() pairs, ${moves} actions applied on the device`,
      `step latency p50 ${percentile(sortedSteps, 0.5).toFixed(2)} ms, p99 ${percentile(sortedSteps, 0.99).toFixed(2)} ms (obs with a camera frame + act)`,
      `stream       ${published} frames published, ${delivered} delivered to ${clients.length} clients (${(delivered / clients.length / elapsed).toFixed(1)} fps each), ${dropped} dropped`,
      `stream age   p50 ${percentile(sortedAges, 0.5).toFixed(2)} ms, p99 ${percentile(sortedAges, 0.99).toFixed(2)} ms (publish to callback)`,
    ]);
  } finally {
    clearInterval(stream);
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Trainer mode: actors step CartPole and stream transitions into a data table; the trainer samples it and
// broadcasts new weights (a float32 tensor) that every actor picks up.

async function trainerSection(settings: DemoSettings): Promise<void> {
  const table = new DataTable({ name: 'cartpole', size: 5_000 });
  const server = new TrainerServer({ portNumber: 0, broadcastPort: 0, dataTable: [table] }, () => null, undefined, {
    host: HOST,
  });
  await server.start();
  const actors = await Promise.all(
    Array.from({ length: settings.clients }, () => TrainerClient.connect(HOST, server.boundConfig)),
  );
  try {
    print([
      `trainer on ${HOST}:${server.port}, weights on :${server.broadcastPort}`,
      `${actors.length} actors stream CartPole transitions for ${settings.seconds} s; the trainer publishes weights every 250 ms ...`,
    ]);
    const seen = actors.map(() => 0);
    actors.forEach((a, i) => {
      a.registerCallback((_weights, { version }) => {
        seen[i] = version;
      });
    });
    const until = performance.now() + settings.seconds * 1000;
    const learner = setInterval(() => {
      const batch = server.sample('cartpole', 64) ?? [];
      const w = new Float32Array(8);
      for (const t of batch) w[(t as { action: number }).action]! += 1 / Math.max(1, batch.length);
      server.publishWeights({ w: new Tensor('float32', w, [2, 4]) });
    }, 250);
    let steps = 0;
    await Promise.all(
      actors.map(async (actor, i) => {
        const env = new CartPole({ seed: i });
        let observation = env.reset();
        while (performance.now() < until) {
          const action = Math.random() < 0.5 ? 0 : 1;
          const next = env.step(action);
          await actor.trainStep('cartpole', { observation, action, reward: next.reward, done: next.terminated });
          steps++;
          observation = next.terminated || next.truncated ? env.reset() : next.observation;
        }
      }),
    );
    clearInterval(learner);
    const stats = server.tableStats('cartpole');
    print([
      `train steps  ${steps} (${(steps / settings.seconds).toFixed(0)}/s), table holds ${stats?.size} of ${stats?.capacity}, ${stats?.inserted} inserted`,
      `weights      version ${server.publishWeights({ final: true })} published; actors last saw ${seen.join(', ')}`,
    ]);
  } finally {
    await Promise.all(actors.map((a) => a.close()));
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** The sections, in order. */
const SECTIONS: readonly Section[] = [
  { title: 'Inference mode', run: inferenceSection },
  { title: 'Action mode', run: actionSection },
  { title: 'Trainer mode', run: trainerSection },
];

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
