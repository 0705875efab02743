/**
 * A second learner on a trainer's table, against a real nats-server: the trainer runs in a child process with its
 * tables on JetStream, actors send train steps, and `TableReader`s in this process (another process than the
 * trainer's) read the table's items: the stored ones, then each new one; durable readers resume where they stopped
 * and share a name's items; `from: 'new'` starts at the next item; garbage on the table's subject is skipped.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/nats.js';
import {
  ClosedError,
  InvalidArgumentError,
  NotFoundError,
  TableReader,
  Tensor,
  TrainerClient,
  TrainerServer,
} from '../src/index.js';
import { TRAINER_TABLES } from './fixtures/nats-trainer-config.js';
import {
  killChild,
  NATS_SKIP_REASON,
  type NatsServerProcess,
  startNatsServer,
  startNatsTrainer,
} from './nats-server.js';

let nats: NatsServerProcess;
const children: ChildProcess[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

async function startTrainer(url: string): Promise<ChildProcess> {
  const child = await startNatsTrainer(url);
  children.push(child);
  return child;
}

async function actorOf(url: string): Promise<TrainerClient> {
  const actor = await TrainerClient.connect(url, TRAINER_TABLES);
  cleanups.push(() => actor.close());
  return actor;
}

async function readerOf(...args: Parameters<typeof TableReader.connect>): Promise<TableReader<Step>> {
  const reader = await TableReader.connect<Step>(...args);
  cleanups.push(() => reader.close());
  return reader;
}

type Step = { step: number; obs?: Tensor<'float32'> };

/** `n` items from the reader, each within a deadline. */
async function take(reader: TableReader<Step>, n: number): Promise<Step[]> {
  const out: Step[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await Promise.race([
        reader.next(),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`no item ${i + 1} of ${n} within 10 s`)), 10_000),
        ),
      ]),
    );
  }
  return out;
}

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const r = await Promise.race([p.then(() => true as const), late]);
  clearTimeout(timer);
  return r;
}

describe.skipIf(NATS_SKIP_REASON !== undefined)(
  `NATS table readers (${NATS_SKIP_REASON ?? 'nats-server found'})`,
  () => {
    beforeAll(async () => {
      nats = await startNatsServer();
    });

    afterAll(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      for (const c of children) await killChild(c);
      await nats?.stop();
    });

    it('a reader in another process reads the stored items, then each new one as actors send it, tensors intact', async () => {
      const url = `${nats.url}/learn`;
      await startTrainer(url);
      const actor = await actorOf(url);
      const obs = (step: number) =>
        new Tensor(
          'float32',
          Float32Array.from({ length: 300 }, (_, i) => i * step),
          [3, 100],
        );
      for (let step = 1; step <= 3; step++) await actor.trainStep('agent1', { step, obs: obs(step) });

      const reader = await readerOf(url, 'agent1');
      const first = await take(reader, 3);
      expect(first.map((x) => x.step)).toEqual([1, 2, 3]);
      for (const x of first) {
        expect(x.obs!.shape).toEqual([3, 100]);
        expect([...x.obs!.data]).toEqual([...obs(x.step).data]);
      }
      // Nothing more is stored: the reader waits, then gets the next step once an actor sends it.
      const next = reader.next();
      await actor.trainStep('agent1', { step: 4, obs: obs(4) });
      expect((await next).step).toBe(4);
      // A second ordered reader reads every item too: readers without a durable name do not share.
      const other = await readerOf(url, 'agent1');
      expect((await take(other, 4)).map((x) => x.step)).toEqual([1, 2, 3, 4]);
      expect(reader.stats()).toEqual({ read: 4, skipped: 0 });
      // The loop form: break closes the reader.
      await actor.trainStep('agent1', { step: 5, obs: obs(5) });
      for await (const x of other) {
        expect(x.step).toBe(5);
        break;
      }
      await expect(other.next()).rejects.toThrow(/closed/);
    }, 60_000);

    it('a durable reader goes on where the last one of its name stopped; two at once share the items', async () => {
      const url = `${nats.url}/durable`;
      await startTrainer(url);
      const actor = await actorOf(url);
      for (let step = 1; step <= 5; step++) await actor.trainStep('agent1', { step });

      const a = await readerOf(url, 'agent1', { durable: 'learner2' });
      expect((await take(a, 2)).map((x) => x.step)).toEqual([1, 2]);
      await a.close();
      const b = await readerOf(url, 'agent1', { durable: 'learner2' });
      expect((await take(b, 3)).map((x) => x.step)).toEqual([3, 4, 5]);

      // Two readers of one name at once: each new item goes to one of them.
      const c = await readerOf(url, 'agent1', { durable: 'learner2' });
      const got: number[] = [];
      const drain = (r: TableReader<Step>) =>
        (async () => {
          while (got.length < 6) got.push((await r.next()).step);
        })().catch(() => undefined);
      void drain(b);
      void drain(c);
      for (let step = 6; step <= 11; step++) await actor.trainStep('agent1', { step });
      const deadline = Date.now() + 10_000;
      while (got.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect([...got].sort((x, y) => x - y)).toEqual([6, 7, 8, 9, 10, 11]);
      expect(b.stats().read + c.stats().read).toBe(3 + 6);

      // Closed while it waits for an item: the wait ends with ClosedError, and the item goes to the name's next reader.
      const d = await TableReader.connect<Step>(url, 'agent1', { durable: 'learner3', from: 'new' });
      const waiting = d.next();
      await d.close();
      await expect(waiting).rejects.toThrow(ClosedError);
      await actor.trainStep('agent1', { step: 12 });
      const e = await readerOf(url, 'agent1', { durable: 'learner3' });
      expect((await take(e, 1)).map((x) => x.step)).toEqual([12]);
    }, 60_000);

    it("from: 'new' starts at the next item; garbage on the table's subject is skipped and counted", async () => {
      const url = `${nats.url}/fresh`;
      await startTrainer(url);
      const actor = await actorOf(url);
      for (let step = 1; step <= 2; step++) await actor.trainStep('agent1', { step });
      const reader = await readerOf(url, 'agent1', { from: 'new' });
      const next = reader.next();
      expect(await settlesWithin(next, 300)).toBe(false);

      const { connect } = await import('@nats-io/transport-node');
      const raw = await connect({ servers: `127.0.0.1:${nats.port}` });
      cleanups.push(() => raw.close());
      raw.publish('edgeml.fresh.table.agent1', Uint8Array.of(1, 0xff, 0xff, 0xff, 0xff));
      raw.publish('edgeml.fresh.table.agent1', new Uint8Array(0));
      // Framed as a message, but its header is not msgpack.
      raw.publish('edgeml.fresh.table.agent1', Uint8Array.of(1, 1, 0, 0, 0, 1, 0, 0, 0, 0xc1));
      await raw.flush();
      await actor.trainStep('agent1', { step: 3 });
      expect((await next).step).toBe(3);
      expect(reader.stats()).toEqual({ read: 1, skipped: 3 });
    }, 60_000);

    it('an unknown table is a NotFoundError, a target without journals an InvalidArgumentError', async () => {
      const url = `${nats.url}/nobody`;
      await expect(TableReader.connect(url, 'agent1')).rejects.toThrow(NotFoundError);
      await expect(TableReader.connect(url, 'agent1', { durable: 'bad name!' })).rejects.toThrow(InvalidArgumentError);
      await expect(TableReader.connect('inproc://tables', 'agent1')).rejects.toThrow(InvalidArgumentError);
      await expect(TableReader.connect('127.0.0.1', 'agent1')).rejects.toThrow(InvalidArgumentError);
      // A trainer in this process with its own stream name: a reader finds its table with the same `stream`.
      const server = new TrainerServer(TRAINER_TABLES, undefined, undefined, {
        listen: `${nats.url}/named`,
        jetstream: { stream: 'lab1' },
      });
      await server.start();
      cleanups.push(() => server.stop());
      server.insert('agent1', { step: 1 });
      await expect(TableReader.connect(`${nats.url}/named`, 'agent1')).rejects.toThrow(NotFoundError);
      const reader = await readerOf(`${nats.url}/named`, 'agent1', { stream: 'lab1' });
      expect((await take(reader, 1)).map((x) => x.step)).toEqual([1]);
    }, 60_000);
  },
);
