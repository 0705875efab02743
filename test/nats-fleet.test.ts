/**
 * Fleets over NATS, against a real nats-server: inference workers in child processes behind one service name
 * (balanced calls, a worker SIGKILLed under load, a worker added under load), cams4-size calls, 100 MB weights to
 * four trainer clients (one joining late), and garbage on the service subjects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/nats.js';
import { TimeoutError } from '../src/core/errors.js';
import { InferenceClient, Tensor, TrainerClient, TrainerConfig, TrainerServer } from '../src/index.js';
import { DataTable } from '../src/modes/trainer/tables.js';
import { waitFor } from './helpers.js';
import {
  NATS_SKIP_REASON,
  type NatsServerProcess,
  type NatsWorker,
  startNatsServer,
  startNatsWorker,
  stopWorkers,
} from './nats-server.js';

let nats: NatsServerProcess;
const workers: NatsWorker[] = [];
const cleanups: (() => unknown)[] = [];

function startWorker(url: string, name: string): NatsWorker {
  const w = startNatsWorker(url, name);
  workers.push(w);
  return w;
}

type Outcome = { n: number; worker?: string; error?: unknown };

/** Call numbers of {@link load}, unique over the whole file (the workers report the numbers they served). */
let nextN = 100_000;

/** Calls `work` from `concurrency` callers until `stop()` is true; every outcome goes to `outcomes`. */
async function load(
  client: InferenceClient,
  outcomes: Outcome[],
  stop: () => boolean,
  concurrency = 12,
  ms = 15,
  timeoutMs = 1500,
): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!stop()) {
        const n = ++nextN;
        try {
          const r = (await client.call('work', { n, ms }, { timeoutMs })) as { worker: string; n: number };
          outcomes.push({ n: r.n, worker: r.worker });
        } catch (error) {
          outcomes.push({ n, error });
        }
      }
    }),
  );
}

const share = (outcomes: Outcome[], name: string) => outcomes.filter((o) => o.worker === name).length;

describe.skipIf(NATS_SKIP_REASON !== undefined)(`NATS fleet (${NATS_SKIP_REASON ?? 'nats-server found'})`, () => {
  let url: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    url = `${nats.url}/fleet`;
    for (const name of ['w1', 'w2', 'w3']) startWorker(url, name);
    await waitFor(() => workers.every((w) => w.ready), 'three workers to serve', 20_000);
  }, 30_000);

  afterAll(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
    await stopWorkers(workers);
    await nats?.stop();
  });

  function client(): InferenceClient {
    const c = new InferenceClient(url, { timeoutMs: 5000 });
    cleanups.push(() => c.close());
    return c;
  }

  it('balances calls across the live workers behind one name', async () => {
    const c = client();
    const results = (await Promise.all(Array.from({ length: 90 }, (_, n) => c.call('work', { n, ms: 5 })))) as {
      worker: string;
    }[];
    for (const name of ['w1', 'w2', 'w3']) {
      expect(results.filter((r) => r.worker === name).length).toBeGreaterThan(10);
    }
  });

  it('carries cams4-size calls (3.7 MB each way) to every worker, several at once', async () => {
    const c = client();
    const cams = new Tensor(
      'uint8',
      new Uint8Array(4 * 480 * 640 * 3).map((_, i) => i * 7),
      [4, 480, 640, 3],
    );
    const replies = (await Promise.all(Array.from({ length: 6 }, () => c.call('echo', { cams })))) as {
      cams: Tensor<'uint8'>;
    }[];
    for (const r of replies) {
      expect(r.cams.shape).toEqual([4, 480, 640, 3]);
      expect(Buffer.from(r.cams.data as Uint8Array).equals(Buffer.from(cams.data as Uint8Array))).toBe(true);
    }
  });

  it('survives garbage and oversized messages on the service subjects', async () => {
    const { connect } = await import('@nats-io/transport-node');
    const raw = await connect({ servers: `127.0.0.1:${nats.port}` });
    cleanups.push(() => raw.close());
    const inbox = 'edgeml.fleet.inbox.feedfacefeedface';
    const junk = [
      new Uint8Array(0),
      Uint8Array.of(1, 0xff, 0xff, 0xff, 0xff),
      Uint8Array.of(1, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f),
      // A first chunk claiming a 4 GB message, and later chunks of messages that never started.
      Uint8Array.of(2, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 9, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1),
      Uint8Array.of(2, 1, 2, 3, 4, 5, 6, 7, 8, 5, 0, 0, 0, 9, 0, 0, 0, 0xff, 0, 0, 0, 1),
      new Uint8Array(900_000).fill(0xab),
      Uint8Array.of(6),
    ];
    for (const body of junk) {
      for (const subject of ['edgeml.fleet.req', 'edgeml.fleet.sub', 'edgeml.fleet.up']) {
        raw.publish(subject, body, { reply: inbox });
        raw.publish(subject, body);
        raw.publish(subject, body, { reply: 'somewhere.else' });
      }
    }
    // A well-formed message whose frames are not an envelope, and a request that claims to be 1 GB long.
    raw.publish('edgeml.fleet.req', Uint8Array.of(1, 1, 0, 0, 0, 3, 0, 0, 0, 0xc1, 0xc1, 0xc1), {
      reply: `${inbox}.q1`,
    });
    await raw.flush();
    const c = client();
    const results = (await Promise.all(Array.from({ length: 60 }, (_, n) => c.call('work', { n, ms: 2 })))) as {
      worker: string;
    }[];
    expect(new Set(results.map((r) => r.worker))).toEqual(new Set(['w1', 'w2', 'w3']));
    expect(workers.every((w) => w.child.exitCode === null)).toBe(true);
  });

  it('a worker SIGKILLed under load: its calls time out at their deadline, the others go on, none answered twice', async () => {
    const c = client();
    const outcomes: Outcome[] = [];
    let killedAt = -1;
    let stopAt = Number.POSITIVE_INFINITY;
    const running = load(c, outcomes, () => outcomes.length >= stopAt);
    await waitFor(() => share(outcomes, 'w1') >= 10, 'w1 to answer under load');
    const victim = workers.find((w) => w.name === 'w1')!;
    victim.child.kill('SIGKILL');
    killedAt = outcomes.length;
    stopAt = killedAt + 200;
    await running;
    const after = outcomes.slice(killedAt);
    const errors = outcomes.filter((o) => o.error !== undefined);
    for (const e of errors) expect(e.error).toBeInstanceOf(TimeoutError);
    // Only calls w1 had started (or was about to) are lost; w2 and w3 answer everything after.
    expect(errors.length).toBeLessThanOrEqual(12);
    for (const e of errors) expect(victim.did.includes(e.n) || !workers.some((w) => w.did.includes(e.n))).toBe(true);
    // Every answer after the kill came from w2 or w3, except replies w1 had sent before it died (at most 12).
    expect(share(after, 'w1')).toBeLessThanOrEqual(12);
    expect(share(after, 'w1') + share(after, 'w2') + share(after, 'w3')).toBe(after.length - errors.length);
    // Past the replies w1 had already sent when it died, every answer comes from w2 or w3.
    const answeredAfter = after.filter((o) => o.worker !== undefined).slice(12);
    expect(answeredAfter.every((o) => o.worker === 'w2' || o.worker === 'w3')).toBe(true);
    // No call reached two workers, and none was answered twice.
    const handled = workers.flatMap((w) => w.did.filter((n) => outcomes.some((o) => o.n === n)));
    expect(new Set(handled).size).toBe(handled.length);
    const answered = outcomes.filter((o) => o.worker !== undefined).map((o) => o.n);
    expect(new Set(answered).size).toBe(answered.length);
  });

  it('a worker added under load takes a share', async () => {
    const c = client();
    const outcomes: Outcome[] = [];
    let stop = false;
    // A generous deadline: here no call may fail, also while the new worker's process starts beside the load.
    const running = load(c, outcomes, () => stop, 12, 15, 10_000);
    await waitFor(() => outcomes.length >= 30, 'load on the two workers left');
    const w4 = startWorker(url, 'w4');
    await waitFor(() => w4.ready, 'w4 to serve', 20_000);
    const from = outcomes.length;
    await waitFor(() => share(outcomes.slice(from), 'w4') >= 20, 'w4 to take a share of the calls');
    stop = true;
    await running;
    expect(outcomes.filter((o) => o.error !== undefined)).toEqual([]);
    const later = outcomes.slice(from);
    expect(share(later, 'w2')).toBeGreaterThan(0);
    expect(share(later, 'w3')).toBeGreaterThan(0);
  });

  it('publishes 100 MB weights to four trainer clients, one joining late', async () => {
    const config = new TrainerConfig({ dataTable: [new DataTable({ name: 'agent1', size: 2 })] });
    const trainer = new TrainerServer(config, undefined, undefined, { listen: `${nats.url}/trainer` });
    await trainer.start();
    cleanups.push(() => trainer.stop());
    const target = `${nats.url}/trainer`;
    const actors = await Promise.all([0, 1, 2].map(() => TrainerClient.connect(target, config)));
    for (const a of actors) cleanups.push(() => a.close());
    const waiting = actors.map((a) => a.waitForWeights(1, { timeoutMs: 20_000 }));
    await waitFor(() => actors.every((a) => a.weightsStatus === 'connected'), 'the actors to subscribe to weights');
    const w = new Float32Array(25 * 1024 * 1024);
    for (let i = 0; i < w.length; i += 4096) w[i] = i;
    trainer.publishWeights({ w: new Tensor('float32', w, [w.length]) });
    const got = await Promise.all(waiting);
    const late = await TrainerClient.connect(target, config);
    cleanups.push(() => late.close());
    got.push(await late.waitForWeights(1, { timeoutMs: 20_000 }));
    for (const m of got) {
      const t = (m.weights as { w: Tensor<'float32'> }).w;
      expect(t.shape).toEqual([w.length]);
      expect(t.data[4096 * 100]).toBe(4096 * 100);
      expect(t.data.length).toBe(w.length);
    }
  }, 30_000);
});
