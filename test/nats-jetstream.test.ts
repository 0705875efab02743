/**
 * Trainer tables on JetStream, against a real nats-server: a trainer in a child process with `jetstream: {}` stores
 * train steps, is SIGKILLed, and a new one started on the same service holds the same items (FIFO limits and
 * non-FIFO refusals as the table's), tensors byte for byte.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/nats.js';
import { InvalidArgumentError, LimitError, Tensor, TrainerClient, TrainerServer } from '../src/index.js';
import { TRAINER_TABLES } from './fixtures/nats-trainer-config.js';
import { waitFor } from './helpers.js';
import {
  killChild,
  NATS_SKIP_REASON,
  type NatsServerProcess,
  startNatsServer,
  startNatsTrainer,
} from './nats-server.js';

let nats: NatsServerProcess;
const children: ChildProcess[] = [];

async function startTrainer(url: string): Promise<ChildProcess> {
  const child = await startNatsTrainer(url);
  children.push(child);
  return child;
}

type Dump = { agent1: { step: number; obs: Tensor<'float32'> }[]; keep: { k: number }[] };

describe.skipIf(NATS_SKIP_REASON !== undefined)(
  `NATS JetStream tables (${NATS_SKIP_REASON ?? 'nats-server found'})`,
  () => {
    beforeAll(async () => {
      nats = await startNatsServer();
    });

    afterAll(async () => {
      for (const c of children) await killChild(c);
      await nats?.stop();
    });

    it('a trainer SIGKILLed and restarted keeps its tables', async () => {
      const url = `${nats.url}/trainer`;
      const first = await startTrainer(url);
      const actor = await TrainerClient.connect(url, TRAINER_TABLES);
      try {
        for (let step = 1; step <= 7; step++) {
          const obs = new Tensor(
            'float32',
            Float32Array.from({ length: 1000 }, (_, i) => i * step),
            [10, 100],
          );
          await actor.trainStep('agent1', { step, obs });
        }
        for (let k = 1; k <= 3; k++) await actor.trainStep('keep', { k });
        await expect(actor.trainStep('keep', { k: 4 })).rejects.toThrow(LimitError);
        const before = (await actor.request('dump')) as Dump;
        expect(before.agent1.map((x) => x.step)).toEqual([3, 4, 5, 6, 7]);

        await killChild(first);
        await startTrainer(url);
        await waitFor(
          async () => (await actor.request('dump', null, { timeoutMs: 500 }).catch(() => null)) !== null,
          'the new trainer to answer',
        );
        const after = (await actor.request('dump')) as Dump;
        expect(after.agent1.map((x) => x.step)).toEqual([3, 4, 5, 6, 7]);
        expect(after.keep).toEqual([{ k: 1 }, { k: 2 }, { k: 3 }]);
        for (const x of after.agent1) {
          expect(x.obs.shape).toEqual([10, 100]);
          const was = before.agent1.find((b) => b.step === x.step)!;
          expect([...x.obs.data]).toEqual([...was.obs.data]);
        }
        // Steps after the restart go on from there: the FIFO table drops its oldest, in memory and in the stream.
        await actor.trainStep('agent1', { step: 8, obs: new Tensor('float32', new Float32Array(1), [1]) });
        expect(((await actor.request('dump')) as Dump).agent1.map((x) => x.step)).toEqual([4, 5, 6, 7, 8]);
      } finally {
        await actor.close();
      }
    }, 60_000);

    it('take() removes the items taken from the stream; jetstream without a nats:// endpoint is refused', async () => {
      const url = `${nats.url}/taker`;
      const opts = { listen: url, jetstream: { stream: 'taker' } };
      const a = new TrainerServer(TRAINER_TABLES, undefined, undefined, opts);
      await a.start();
      for (let step = 1; step <= 4; step++) a.insert('agent1', { step });
      await waitFor(async () => {
        const b = new TrainerServer(TRAINER_TABLES, undefined, undefined, opts);
        await b.start();
        const n = b.getData('agent1')!.length;
        await b.stop();
        return n === 4;
      }, 'the inserted items to reach the stream');
      expect(a.take('agent1', 3).map((x) => (x as { step: number }).step)).toEqual([1, 2, 3]);
      await a.stop();
      await waitFor(async () => {
        const b = new TrainerServer(TRAINER_TABLES, undefined, undefined, opts);
        await b.start();
        const items = b.getData('agent1');
        await b.stop();
        return JSON.stringify(items) === JSON.stringify([{ step: 4 }]);
      }, 'the stream to hold only the item not taken');
      const inproc = new TrainerServer(TRAINER_TABLES, undefined, undefined, { listen: 'inproc://js', jetstream: {} });
      await expect(inproc.start()).rejects.toThrow(InvalidArgumentError);
    }, 60_000);
  },
);
