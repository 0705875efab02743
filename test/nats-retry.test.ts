/**
 * Idempotent interfaces retried over NATS, against a real nats-server: three inference workers in child processes
 * behind one service, one SIGKILLed mid-call under load. With `retry: 1` the calls the dead worker had taken are
 * sent again with the same key and answered by a live worker; every call is answered once, and no key runs on two
 * live workers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/nats.js';
import { InferenceClient, InferenceServer } from '../src/index.js';
import { waitFor } from './helpers.js';
import {
  exitedWorker,
  NATS_SKIP_REASON,
  type NatsServerProcess,
  type NatsWorker,
  startNatsServer,
  startNatsWorker,
} from './nats-server.js';

let nats: NatsServerProcess;
const workers: NatsWorker[] = [];
let client: InferenceClient | undefined;

function startWorker(url: string, name: string): NatsWorker {
  const w = startNatsWorker(url, name);
  workers.push(w);
  return w;
}

type Outcome = { n: number; worker?: string; error?: unknown };

describe.skipIf(NATS_SKIP_REASON !== undefined)(`NATS retry (${NATS_SKIP_REASON ?? 'nats-server found'})`, () => {
  let url: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    url = `${nats.url}/retry`;
    for (const name of ['w1', 'w2', 'w3']) startWorker(url, name);
    await waitFor(() => workers.every((w) => w.ready), 'three workers to serve', 20_000);
  }, 30_000);

  afterAll(async () => {
    await client?.close();
    for (const w of workers) {
      const done = exitedWorker(w);
      w.child.kill('SIGTERM');
      await done;
    }
    await nats?.stop();
  });

  it('a worker SIGKILLed mid-call: with retry its calls succeed on another worker, each answered and run once', async () => {
    client = new InferenceClient(url);
    const c = client;
    const outcomes: Outcome[] = [];
    let n = 0;
    let stopAt = Number.POSITIVE_INFINITY;
    const callers = Array.from({ length: 12 }, async () => {
      while (outcomes.length < stopAt) {
        const mine = ++n;
        try {
          const r = (await c.call('work-once', { n: mine, ms: 60 }, { timeoutMs: 4000, retry: 1 })) as Outcome;
          outcomes.push({ n: r.n, worker: r.worker! });
        } catch (error) {
          outcomes.push({ n: mine, error });
        }
      }
    });
    const victim = workers.find((w) => w.name === 'w1')!;
    // Kill w1 the moment it reports starting a call, once it has answered 10: that call (60 ms) is then surely in
    // flight. Killing at an arbitrary moment could fall in the few milliseconds where w1 holds no call at all.
    const gone = exitedWorker(victim);
    let killed = false;
    const killOnStart = (): void => {
      if (outcomes.filter((o) => o.worker === 'w1').length < 10) return;
      victim.child.stdout!.off('data', killOnStart);
      victim.child.kill('SIGKILL');
      killed = true;
    };
    victim.child.stdout!.on('data', killOnStart);
    await waitFor(() => killed, 'w1 to answer 10 calls under load and start another');
    await gone;
    stopAt = outcomes.length + 150;
    await Promise.all(callers);

    // Every call succeeded, and each was answered once.
    expect(outcomes.filter((o) => o.error !== undefined)).toEqual([]);
    const answered = outcomes.map((o) => o.n);
    expect(new Set(answered).size).toBe(answered.length);
    expect(answered.length).toBe(n);
    // The calls w1 had started and never answered: there were some, and a live worker answered each.
    const byW1 = new Set(outcomes.filter((o) => o.worker === 'w1').map((o) => o.n));
    const lost = victim.did.filter((x) => !byW1.has(x));
    expect(lost.length).toBeGreaterThan(0);
    const answerOf = new Map(outcomes.map((o) => [o.n, o.worker]));
    for (const x of lost) expect(['w2', 'w3']).toContain(answerOf.get(x));
    // No key ran on two live workers, nor twice on one; a key ran twice only when the first run died with w1.
    const live = workers.filter((w) => w !== victim).flatMap((w) => w.did);
    expect(new Set(live).size).toBe(live.length);
    const runs = [...victim.did, ...live];
    const twice = runs.filter((x, i) => runs.indexOf(x) !== i);
    expect(new Set(twice)).toEqual(new Set(twice.filter((x) => lost.includes(x))));
    for (const x of byW1) expect(live).not.toContain(x);
  }, 30_000);

  it('a slow worker, not a dead one: the first reply to any attempt answers the call', async () => {
    // Two workers in this process: 'quick' answers in 400 ms, 'slow' in 1500 ms; each attempt waits 200 ms before
    // the retry is sent, and NATS hands each attempt to either. A call that 'quick' ran is answered by 'quick', also
    // when 'quick' had the first attempt and the retry went to 'slow' (its reply then comes after the retry was sent).
    const service = `${url}-slow`;
    const ran = new Map<number, string[]>();
    const servers = (['quick', 'slow'] as const).map((name) => {
      const s = new InferenceServer({ listen: service });
      s.registerInterface(
        'work',
        async (p) => {
          const { n } = p as { n: number };
          ran.set(n, [...(ran.get(n) ?? []), name]);
          await new Promise((r) => setTimeout(r, name === 'quick' ? 400 : 1500));
          return { worker: name, n };
        },
        { idempotent: true },
      );
      return s;
    });
    try {
      for (const s of servers) await s.start();
      const c = new InferenceClient(service);
      try {
        const calls = Array.from({ length: 32 }, (_, n) =>
          c.call('work', { n }, { timeoutMs: 4000, retry: 1, attemptTimeoutMs: 200 }),
        );
        const results = (await Promise.all(calls)) as { worker: string; n: number }[];
        expect(results.map((r) => r.n)).toEqual(Array.from({ length: 32 }, (_, n) => n));
        for (const r of results) expect(r.worker).toBe(ran.get(r.n)!.includes('quick') ? 'quick' : 'slow');
        // The case that matters happened: 'quick' ran the first attempt and 'slow' the retry (each call 1 in 4).
        expect([...ran.values()].some((w) => w[0] === 'quick' && w[1] === 'slow')).toBe(true);
      } finally {
        await c.close();
      }
    } finally {
      for (const s of servers) await s.stop();
    }
  }, 30_000);
});
