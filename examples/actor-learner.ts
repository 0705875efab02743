/**
 * Actor–learner example of the trainer mode: actors play CartPole with a linear softmax policy and send each episode
 * to the learner with `trainStep`; the learner takes batches of episodes from its data table, improves the policy
 * with REINFORCE (plain TypeScript, no ML library), and broadcasts the new weights, which the actors apply.
 *
 * Run everything in one process on localhost (ends by itself, well under a minute):
 *
 *     npx tsx examples/actor-learner.ts [--actors 3] [--target 450] [--seconds 45]
 *
 * For two machines, see examples/trainer-learner.ts and examples/trainer-actor.ts (they reuse this file's parts).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DataTable,
  LimitError,
  Tensor,
  TimeoutError,
  TrainerClient,
  TrainerConfig,
  TrainerServer,
} from '../src/index.js';
import { CartPole } from '../src/testing.js';

/** The table the episodes go to. */
export const TABLE = 'episodes';
/** Policy parameters: 2 actions × (4 observation values + 1 bias). */
const FEATURES = 5;

/** The config shared by learner and actors (the handshake checks that both use the same). */
export function makeConfig(portNumber: number, broadcastPort: number): TrainerConfig {
  return new TrainerConfig({
    portNumber,
    broadcastPort,
    // FIFO: when actors outpace the learner, the oldest (most off-policy) episodes are dropped.
    dataTable: [new DataTable({ name: TABLE, size: 64 })],
    requestTypes: ['progress'],
    version: 'cartpole-reinforce-1',
  });
}

/** One episode as an actor sends it: observations (T × 4), actions (T), the weights version that played it. */
export interface Episode {
  obs: Float32Array;
  actions: Uint8Array;
  version: number;
  actor: number;
}

/** What the learner broadcasts. */
export interface PolicyWeights {
  w: Tensor;
  /** Set on the last broadcast: training is over, actors may stop. */
  done: boolean;
}

/** Probability of action 1 (push right) under the linear softmax policy `w` (2 × 5, row-major). */
export function probRight(w: Float64Array, o: ArrayLike<number>): number {
  let left = w[4]!;
  let right = w[9]!;
  for (let i = 0; i < 4; i++) {
    left += w[i]! * o[i]!;
    right += w[FEATURES + i]! * o[i]!;
  }
  return 1 / (1 + Math.exp(left - right));
}

/** Plays one episode with policy `w`. */
export function playEpisode(
  env: CartPole,
  w: Float64Array,
  random: () => number,
): { obs: number[]; actions: number[] } {
  let o = env.reset();
  const obs: number[] = [];
  const actions: number[] = [];
  for (;;) {
    const a = random() < probRight(w, o) ? 1 : 0;
    obs.push(...o);
    actions.push(a);
    const step = env.step(a);
    o = step.observation;
    if (step.terminated || step.truncated) return { obs, actions };
  }
}

/** REINFORCE with normalised discounted returns and Adam, for the linear softmax policy. */
export class Reinforce {
  readonly weights = new Float64Array(2 * FEATURES);
  private readonly m = new Float64Array(2 * FEATURES);
  private readonly v = new Float64Array(2 * FEATURES);
  private t = 0;

  constructor(
    private readonly lr = 0.05,
    private readonly gamma = 0.99,
  ) {}

  /** One gradient step on a batch of episodes. */
  update(episodes: readonly Episode[]): void {
    const returns: Float64Array[] = [];
    let sum = 0;
    let sq = 0;
    let n = 0;
    for (const e of episodes) {
      const g = new Float64Array(e.actions.length);
      let run = 0;
      for (let i = g.length - 1; i >= 0; i--) {
        run = 1 + this.gamma * run;
        g[i] = run;
        sum += run;
        sq += run * run;
      }
      n += g.length;
      returns.push(g);
    }
    const mean = sum / n;
    const sd = Math.sqrt(Math.max(sq / n - mean * mean, 0)) + 1e-8;
    const grad = new Float64Array(2 * FEATURES);
    episodes.forEach((e, k) => {
      for (let i = 0; i < e.actions.length; i++) {
        const o = e.obs.subarray(4 * i, 4 * i + 4);
        const adv = (returns[k]![i]! - mean) / sd;
        const d = adv * ((e.actions[i] === 1 ? 1 : 0) - probRight(this.weights, o));
        for (let j = 0; j < FEATURES; j++) {
          const phi = j < 4 ? o[j]! : 1;
          grad[FEATURES + j]! += d * phi;
          grad[j]! -= d * phi;
        }
      }
    });
    this.t++;
    for (let j = 0; j < grad.length; j++) {
      const g = grad[j]! / n;
      this.m[j] = 0.9 * this.m[j]! + 0.1 * g;
      this.v[j] = 0.999 * this.v[j]! + 0.001 * g * g;
      const mHat = this.m[j]! / (1 - 0.9 ** this.t);
      const vHat = this.v[j]! / (1 - 0.999 ** this.t);
      this.weights[j]! += (this.lr * mHat) / (Math.sqrt(vHat) + 1e-8);
    }
  }
}

function isEpisode(v: unknown): v is Episode {
  const e = v as Partial<Episode> | null;
  return (
    !!e &&
    e.obs instanceof Float32Array &&
    e.actions instanceof Uint8Array &&
    e.obs.length === 4 * e.actions.length &&
    e.actions.length > 0
  );
}

/** What the learner reports when it ends. */
export interface LearnerSummary {
  episodes: number;
  firstAverage: number;
  lastAverage: number;
  version: number;
  seconds: number;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/**
 * The learner loop: waits for a batch of episodes, takes it from the table, updates the policy, publishes the new
 * weights. Ends when the average return of the last 50 episodes reaches `target`, or after `seconds`.
 */
export async function runLearner(
  server: TrainerServer,
  options: { target: number; seconds: number; batch?: number; log?: (line: string) => void },
): Promise<LearnerSummary> {
  const { target, seconds, batch = 8, log = console.log } = options;
  const algo = new Reinforce();
  const returns: number[] = [];
  const started = performance.now();
  const elapsed = (): number => (performance.now() - started) / 1000;
  const publish = (done: boolean): number =>
    // Publish a copy: the published tensor is kept as the latest value for late joiners.
    server.publishWeights({ w: new Tensor('float64', algo.weights.slice(), [2, FEATURES]), done });
  let version = publish(false);
  let lastLog = 0;
  while (elapsed() < seconds) {
    try {
      await server.waitForSize(TABLE, batch, { timeoutMs: 1000 });
    } catch (e) {
      if (e instanceof TimeoutError) continue;
      throw e;
    }
    const episodes = server.take(TABLE, batch).filter(isEpisode);
    for (const e of episodes) returns.push(e.actions.length);
    algo.update(episodes);
    version = publish(false);
    const recent = mean(returns.slice(-50));
    if (returns.length - lastLog >= 100) {
      lastLog = returns.length;
      log(
        `[learner] ${elapsed().toFixed(1)} s  episodes ${returns.length}  avg return ${recent.toFixed(1)}  weights v${version}`,
      );
    }
    if (returns.length >= 50 && recent >= target) break;
  }
  version = publish(true);
  return {
    episodes: returns.length,
    firstAverage: mean(returns.slice(0, 50)),
    lastAverage: mean(returns.slice(-50)),
    version,
    seconds: elapsed(),
  };
}

/** A learner with the example's config and its custom request: actors may ask for the learner's progress. */
export function makeLearner(portNumber: number, broadcastPort: number, host?: string): TrainerServer {
  const server: TrainerServer = new TrainerServer(
    makeConfig(portNumber, broadcastPort),
    undefined,
    () => ({ version: server.weightsVersion, stored: server.tableStats(TABLE)?.inserted ?? 0 }),
    host === undefined ? {} : { host },
  );
  return server;
}

/**
 * One actor: plays episodes with the latest weights it received and sends each with `trainStep`, until the learner
 * publishes `done` weights or `until()` says stop. Returns the number of episodes sent.
 */
export async function runActor(
  client: TrainerClient<PolicyWeights>,
  options: { id: number; seed: number; until?: () => boolean },
): Promise<number> {
  const env = new CartPole({ seed: options.seed });
  let w: Float64Array = new Float64Array(2 * FEATURES);
  let version = 0;
  let done = false;
  client.recvWeightsCallback((weights, info) => {
    w = weights.w.data as Float64Array;
    version = info.version;
    done = weights.done;
  });
  let rnd = Math.abs(options.seed * 7919 + 1) % 2147483647 || 1;
  const random = (): number => {
    rnd = (rnd * 16807) % 2147483647;
    return rnd / 2147483647;
  };
  let sent = 0;
  while (!done && !(options.until?.() ?? false)) {
    const { obs, actions } = playEpisode(env, w, random);
    const episode: Episode = {
      obs: Float32Array.from(obs),
      actions: Uint8Array.from(actions),
      version,
      actor: options.id,
    };
    try {
      await client.trainStep(TABLE, episode);
      sent++;
    } catch (e) {
      // The learner is gone (it stopped after publishing its last weights, or the network is down): stop.
      if (e instanceof TimeoutError) break;
      // The trainer is busy: back off briefly, the episode is dropped (it was about to go stale anyway).
      if (!(e instanceof LimitError)) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  return sent;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      actors: { type: 'string', default: '3' },
      target: { type: 'string', default: '450' },
      seconds: { type: 'string', default: '45' },
    },
  });
  const server = makeLearner(0, 0);
  await server.start();
  const config = makeConfig(server.port, server.broadcastPort);
  const n = Number(values.actors);
  const clients = await Promise.all(
    Array.from({ length: n }, () => TrainerClient.connect<PolicyWeights>('127.0.0.1', config)),
  );
  console.log(`[learner] listening on ports ${server.port}/${server.broadcastPort}, ${n} actors connected`);
  let stop = false;
  const actors = clients.map((c, id) => runActor(c, { id, seed: 1000 + id, until: () => stop }));
  const summary = await runLearner(server, { target: Number(values.target), seconds: Number(values.seconds) });
  stop = true;
  const sent = await Promise.all(actors);
  console.log(
    `[learner] done in ${summary.seconds.toFixed(1)} s: ${summary.episodes} episodes trained on ` +
      `(${sent.join(' + ')} sent by the actors), average return ${summary.firstAverage.toFixed(1)} (first 50) -> ` +
      `${summary.lastAverage.toFixed(1)} (last 50), weights v${summary.version}`,
  );
  await Promise.all(clients.map((c) => c.close()));
  await server.stop();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
