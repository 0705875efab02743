/**
 * The servers of the soak run (scripts/soak.ts): an inference server, an action server with an observation stream,
 * and a trainer with weights broadcasts, all on loopback. Each can be restarted on the same ports; their counters
 * are kept across restarts.
 */
import { ActionServer, ClosedError, InferenceServer, Tensor, TrainerConfig, TrainerServer } from '../src/index.js';

const HOST = '127.0.0.1';

/** Action keys and observation keys of the soak's action server. */
export const ACTION_KEYS = { actionKeys: ['move', 'grip'], observationKeys: ['cam', 'state'] };

/** The trainer's config fields besides the ports. */
export const TRAINER_FIELDS = {
  dataTable: [
    { name: 'exp', size: 2000 },
    { name: 'big', size: 32 },
  ],
  requestTypes: ['info', 'fail'],
};

function sumOf(payload: unknown): number {
  const data = payload instanceof Tensor ? payload.data : payload;
  if (!(data instanceof Float32Array)) throw new TypeError('sum needs a float32 tensor or array');
  let s = 0;
  for (const x of data) s += x;
  return s;
}

async function newInference(port: number): Promise<InferenceServer> {
  // Hung handlers are abandoned after a second (the hostile driver calls `hang`).
  const server = new InferenceServer({ port, host: HOST, handlerTimeoutMs: 1000 });
  server.registerInterface('echo', (p) => p);
  server.registerInterface('hang', () => new Promise(() => {}));
  server.registerInterface('sum', sumOf);
  server.registerInterface('fail', () => {
    throw new TypeError('deliberate failure');
  });
  await server.start();
  return server;
}

async function newTrainer(port: number, broadcastPort: number): Promise<TrainerServer> {
  const server: TrainerServer = new TrainerServer(
    { ...TRAINER_FIELDS, portNumber: port, broadcastPort },
    () => ({ stored: true }),
    (type): unknown => {
      if (type === 'fail') throw new RangeError('deliberate failure');
      return { tables: server.tableNames(), version: server.weightsVersion };
    },
  );
  await server.start();
  return server;
}

/** The three servers, restartable on their ports. */
export class SoakServers {
  inference!: InferenceServer;
  action!: ActionServer;
  trainer!: TrainerServer;
  /** Requests answered by stopped incarnations. */
  private past = { inference: 0, action: 0, trainer: 0 };
  restarts = 0;
  private obsTimer: NodeJS.Timeout | undefined;
  private weightsTimer: NodeJS.Timeout | undefined;
  private obsSeq = 0;

  /** Starts all three on free ports. */
  async start(): Promise<void> {
    this.inference = await newInference(0);
    this.action = new ActionServer(
      { portNumber: 0, broadcastPort: 0, ...ACTION_KEYS },
      (keys) => Object.fromEntries(keys.map((k) => [k, k === 'cam' ? camera(this.obsSeq) : { seq: this.obsSeq }])),
      (key, payload) => ({ key, payload }),
      { host: HOST },
    );
    await this.action.start();
    this.trainer = await newTrainer(0, 0);
    // The streams: observations at 50 Hz, weights twice a second, and a learner consuming experience.
    this.obsTimer = setInterval(() => {
      this.obsSeq++;
      this.action.publishObs({ cam: camera(this.obsSeq), state: { seq: this.obsSeq } });
    }, 20);
    this.weightsTimer = setInterval(() => {
      try {
        this.trainer.publishWeights({
          w: new Tensor('float32', new Float32Array(64 * 1024).fill(Math.random()), [256, 256]),
        });
      } catch (e) {
        // The trainer is being restarted (stopped, not yet bound again): skip this round.
        if (!(e instanceof ClosedError)) throw e;
        return;
      }
      this.trainer.take('exp');
      this.trainer.take('big');
    }, 500);
  }

  /** The trainer config a client needs (with the bound ports). */
  trainerConfig(): TrainerConfig {
    return new TrainerConfig({
      ...TRAINER_FIELDS,
      portNumber: this.trainer.port,
      broadcastPort: this.trainer.broadcastPort,
    });
  }

  /** Restarts the inference server (odd restarts) or the trainer (even ones) on the same ports. */
  async restartOne(): Promise<string> {
    this.restarts++;
    if (this.restarts % 2 === 1) {
      const port = this.inference.port;
      this.past.inference += this.inference.stats().requests;
      await this.inference.stop();
      this.inference = await newInference(port);
      return 'inference';
    }
    const { port, broadcastPort } = this.trainer;
    this.past.trainer += this.trainer.stats().requests;
    await this.trainer.stop();
    this.trainer = await newTrainer(port, broadcastPort);
    return 'trainer';
  }

  /** Requests answered so far, per server. */
  served(): { inference: number; action: number; trainer: number } {
    return {
      inference: this.past.inference + this.inference.stats().requests,
      action: this.past.action + this.action.stats().requests,
      trainer: this.past.trainer + this.trainer.stats().requests,
    };
  }

  /** Messages the running servers could not decode at all (garbage with no readable request id). */
  malformed(): number {
    return this.inference.stats().malformed + this.action.stats().malformed + this.trainer.stats().malformed;
  }

  /** Every port a client or an attacker can reach. */
  ports(): number[] {
    return [
      this.inference.port,
      this.action.port,
      this.action.broadcastPort!,
      this.trainer.port,
      this.trainer.broadcastPort,
    ];
  }

  /** Stops everything. */
  async stop(): Promise<void> {
    clearInterval(this.obsTimer);
    clearInterval(this.weightsTimer);
    await Promise.all([this.inference.stop(), this.action.stop(), this.trainer.stop()]);
  }
}

/** A camera frame: a 64 x 64 float32 tensor (16 KiB), new each time. */
function camera(seq: number): Tensor {
  return new Tensor('float32', new Float32Array(64 * 64).fill(seq % 1000), [64, 64]);
}
