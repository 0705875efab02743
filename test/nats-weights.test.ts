/**
 * Trainer weights in a NATS object store, against a real nats-server with JetStream: 100 MB weights reach four
 * actors (one joining late) from the bucket, nothing goes over the broadcast; the bucket keeps the newest versions;
 * a restarted trainer numbers on from the newest stored and a new actor gets it before the new trainer publishes;
 * an object over an actor's message limit is refused with an error and the actor goes on; the option needs nats://.
 */
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/nats.js';
import { InvalidArgumentError, LimitError } from '../src/core/errors.js';
import { Tensor, TrainerClient, TrainerConfig, TrainerServer } from '../src/index.js';
import { DataTable } from '../src/modes/trainer/tables.js';
import { waitFor } from './helpers.js';
import { NATS_SKIP_REASON, type NatsServerProcess, startNatsServer } from './nats-server.js';

const config = new TrainerConfig({ dataTable: [new DataTable({ name: 'agent1', size: 2 })] });

describe.skipIf(NATS_SKIP_REASON !== undefined)(
  `NATS weights in an object store (${NATS_SKIP_REASON ?? 'nats-server found'})`,
  () => {
    let nats: NatsServerProcess;
    const cleanups: (() => unknown)[] = [];
    beforeAll(async () => {
      nats = await startNatsServer();
    });
    afterAll(async () => {
      for (const f of cleanups.splice(0).reverse()) await f();
      await nats?.stop();
    });

    async function trainer(service: string, objectStore = {}): Promise<TrainerServer> {
      const t = new TrainerServer(config, undefined, undefined, { listen: `${nats.url}/${service}`, objectStore });
      await t.start();
      cleanups.push(() => t.stop());
      return t;
    }

    async function actor(service: string, options = {}): Promise<TrainerClient> {
      const a = await TrainerClient.connect(`${nats.url}/${service}`, config, options);
      cleanups.push(() => a.close());
      return a;
    }

    /** The names of the objects in a bucket, read with nats.js directly. */
    async function objects(bucket: string): Promise<string[]> {
      const nc = await connect({ servers: nats.url.replace('nats://', '') });
      try {
        const os = await new Objm(nc).open(bucket);
        return (await os.list())
          .filter((i) => !i.deleted)
          .map((i) => i.name)
          .sort();
      } finally {
        await nc.close();
      }
    }

    it('brings 100 MB weights to four actors from the bucket, one joining late; nothing is broadcast', async () => {
      const t = await trainer('big');
      const actors = await Promise.all([0, 1, 2].map(() => actor('big')));
      const waiting = actors.map((a) => a.waitForWeights(1, { timeoutMs: 30_000 }));
      await waitFor(() => actors.every((a) => a.weightsStatus === 'connected'), 'the actors to watch the bucket');
      const w = new Float32Array(25 * 1024 * 1024);
      for (let i = 0; i < w.length; i += 4096) w[i] = i;
      expect(t.publishWeights({ w: new Tensor('float32', w, [w.length]) })).toBe(1);
      const got = await Promise.all(waiting);
      const late = await actor('big');
      got.push(await late.waitForWeights(1, { timeoutMs: 30_000 }));
      for (const m of got) {
        expect(m.version).toBe(1);
        const x = (m.weights as { w: Tensor<'float32'> }).w;
        expect(x.shape).toEqual([w.length]);
        expect(x.data[4096 * 100]).toBe(4096 * 100);
      }
      const st = t.stats();
      expect(st.weights.published).toBe(0);
      expect(st.weightsStore).toMatchObject({ bucket: 'edgeml_big_weights', stored: 1, failed: 0, storedVersion: 1 });
      expect(await objects('edgeml_big_weights')).toEqual(['v1']);
      for (const a of [...actors, late]) expect(a.weightsStats()?.delivered).toBe(1);
    }, 60_000);

    it('keeps the newest versions; a restarted trainer goes on from them, and a new actor gets the newest at once', async () => {
      const first = await trainer('restart', { keep: 2 });
      const a = await actor('restart');
      const seen: number[] = [];
      a.onWeights((_, { version }) => {
        seen.push(version);
      });
      for (let v = 1; v <= 4; v++) {
        first.publishWeights({ v });
        await first.flushWeights();
      }
      await waitFor(() => seen.at(-1) === 4, 'the actor to get version 4');
      // Versions in order, never one twice (some may be skipped for a newer one).
      expect([...seen].sort((x, y) => x - y)).toEqual(seen);
      expect(new Set(seen).size).toBe(seen.length);
      await waitFor(
        async () => JSON.stringify(await objects('edgeml_restart_weights')) === '["v3","v4"]',
        'the bucket to keep v3 and v4',
      );
      await first.stop();

      const second = await trainer('restart', { keep: 2 });
      expect(second.weightsVersion).toBe(4);
      const b = await actor('restart');
      const m = await b.waitForWeights(1, { timeoutMs: 10_000 });
      expect(m).toEqual({ version: 4, weights: { v: 4 } });
      expect(second.publishWeights({ v: 5 })).toBe(5);
      expect((await b.waitForWeights(5, { timeoutMs: 10_000 })).weights).toEqual({ v: 5 });
      await waitFor(() => seen.at(-1) === 5, 'the first actor to get version 5 from the new trainer');
    }, 60_000);

    it('an object over an actor’s message limit is refused with an error, and the actor goes on', async () => {
      const t = await trainer('limits');
      const errors: unknown[] = [];
      const small = await actor('limits', {
        limits: { maxMessageBytes: 64 * 1024 },
        onError: (e: unknown) => errors.push(e),
      });
      const got: number[] = [];
      small.onWeights((_, { version }) => {
        got.push(version);
      });
      t.publishWeights({ blob: new Uint8Array(1024 * 1024) });
      await waitFor(() => errors.length === 1, 'the oversized weights to be refused');
      expect(errors[0]).toBeInstanceOf(LimitError);
      t.publishWeights({ blob: new Uint8Array(10) });
      await waitFor(() => got.includes(2), 'the next, small weights');
      expect(got).toEqual([2]);
      expect(small.weightsStats()?.malformed).toBe(1);
    }, 30_000);

    it('needs nats:// endpoints only, and a valid option', async () => {
      expect(
        () => new TrainerServer(config, undefined, undefined, { listen: 'inproc://w', objectStore: { keep: 0 } }),
      ).toThrow(InvalidArgumentError);
      const inproc = new TrainerServer(config, undefined, undefined, { listen: 'inproc://w', objectStore: {} });
      await expect(inproc.start()).rejects.toThrow(InvalidArgumentError);
      const mixed = new TrainerServer(config, undefined, undefined, {
        listen: [`${nats.url}/mixed`, 'inproc://mixed'],
        objectStore: {},
      });
      await expect(mixed.start()).rejects.toThrow(/every endpoint/);
    });
  },
);
