import { afterEach, describe, expect, it } from 'vitest';
import { LimitError, RemoteError, TimeoutError } from '../src/core/errors.js';
import { TrainerClient } from '../src/modes/trainer/client.js';
import { TrainerConfig } from '../src/modes/trainer/config.js';
import { TrainerServer, type TrainerServerOptions } from '../src/modes/trainer/server.js';
import { DataTable } from '../src/modes/trainer/tables.js';
import { gate, HOST, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function trainer(
  callback: (table: string, payload: unknown) => unknown,
  options: TrainerServerOptions = {},
): Promise<{ server: TrainerServer; config: TrainerConfig }> {
  const config = new TrainerConfig({
    portNumber: 0,
    broadcastPort: 0,
    dataTable: [new DataTable({ name: 't', size: 10_000 })],
  });
  const server = new TrainerServer(config, callback, undefined, options);
  await server.start();
  cleanups.push(() => server.stop());
  return { server, config: server.boundConfig };
}

async function actor(config: TrainerConfig): Promise<TrainerClient> {
  const c = await TrainerClient.connect(HOST, config, { timeoutMs: 10_000 });
  cleanups.push(() => c.close());
  return c;
}

describe('trainer: fair share between clients', () => {
  it('four flooding actors cannot starve a fifth: its step is admitted and trained on among the first', async () => {
    const hold = gate();
    const order: string[] = [];
    const { server, config } = await trainer(async (_t, payload) => {
      const who = (payload as { who: string }).who;
      order.push(who);
      if (order.length === 1) await hold.promise;
      return who;
    });
    const flooders = await Promise.all([1, 2, 3, 4].map(() => actor(config)));
    const outcomes = flooders.flatMap((a, i) =>
      Array.from({ length: 40 }, () =>
        a.trainStep('t', { who: `flooder${i}` }).then(
          () => 'ok',
          (e: unknown) => (e instanceof LimitError ? 'limit' : String(e)),
        ),
      ),
    );
    // Every slot a flooder may take is taken (16 each, 64 in all), the rest refused.
    await waitFor(() => server.pendingTrainSteps === 64, 'the flooders to fill the trainer');
    const fifth = await actor(config);
    const mine = fifth.trainStep('t', { who: 'fifth' });
    await waitFor(() => server.pendingTrainSteps === 65, 'the fifth actor’s step to be admitted');
    hold.open();
    expect(await mine).toBe('fifth');
    const results = await Promise.all(outcomes);
    expect(results.filter((r) => r === 'ok')).toHaveLength(64);
    expect(results.filter((r) => r === 'limit')).toHaveLength(160 - 64);
    // Round robin: after the step that was running, each client's next step in turn; the fifth's comes by the 6th.
    expect(order.indexOf('fifth')).toBeLessThanOrEqual(5);
    expect(server.stats().busyRejections).toBe(160 - 64);
  });
});

describe('trainer: step ids', () => {
  it('a step retried with the same step id is stored and trained on once; every try gets its result', async () => {
    const hold = gate();
    let calls = 0;
    const { server, config } = await trainer(async () => {
      calls++;
      await hold.promise;
      return { trained: calls };
    });
    const a = await actor(config);
    const first = a.trainStep('t', { x: 1 }, { stepId: 'step-1' });
    await waitFor(() => calls === 1, 'the first try to reach the callback');
    const retryWhileRunning = a.trainStep('t', { x: 1 }, { stepId: 'step-1' });
    hold.open();
    expect(await first).toEqual({ trained: 1 });
    expect(await retryWhileRunning).toEqual({ trained: 1 });
    expect(await a.trainStep('t', { x: 1 }, { stepId: 'step-1' })).toEqual({ trained: 1 });
    expect(server.getData('t')).toHaveLength(1);
    expect(calls).toBe(1);
    // Without the same id, a step is a new step.
    await a.trainStep('t', { x: 2 });
    expect(server.getData('t')).toHaveLength(2);
  });
});

describe('trainer: a hung train callback', () => {
  it('is abandoned at handlerTimeoutMs: its caller gets TimeoutError and later steps are trained on', async () => {
    const { server, config } = await trainer(
      (_t, payload) => ((payload as { hang?: boolean }).hang ? new Promise(() => {}) : 'done'),
      { handlerTimeoutMs: 300 },
    );
    const a = await actor(config);
    const hung = a.trainStep('t', { hang: true }).catch((e: unknown) => e);
    const next = a.trainStep('t', { hang: false });
    const error = await hung;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(await next).toBe('done');
    expect(server.stats().abandoned).toBe(1);
    expect(server.pendingTrainSteps).toBe(0);
  });

  it('a train callback that throws a value that is not an Error gives RemoteError, and the trainer goes on', async () => {
    const { config } = await trainer((_t, payload) => {
      const kind = (payload as { kind: string }).kind;
      if (kind === 'null-proto') throw Object.create(null);
      if (kind === 'bad-tostring')
        throw {
          toString: () => {
            throw new Error('no');
          },
        };
      return 'ok';
    });
    const a = await actor(config);
    await expect(a.trainStep('t', { kind: 'null-proto' })).rejects.toBeInstanceOf(RemoteError);
    await expect(a.trainStep('t', { kind: 'bad-tostring' })).rejects.toBeInstanceOf(RemoteError);
    expect(await a.trainStep('t', { kind: 'fine' })).toBe('ok');
  });
});
