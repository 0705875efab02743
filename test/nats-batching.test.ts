/**
 * Dynamic batching per worker over NATS, against a real nats-server: two in-process workers behind one service name,
 * each batching its own share of concurrent calls from several clients; every caller gets its own result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/nats.js';
import { InferenceClient, InferenceServer } from '../src/index.js';
import { NATS_SKIP_REASON, type NatsServerProcess, startNatsServer } from './nats-server.js';

describe.skipIf(NATS_SKIP_REASON !== undefined)(`NATS batching (${NATS_SKIP_REASON ?? 'nats-server found'})`, () => {
  let nats: NatsServerProcess;
  const cleanups: (() => unknown)[] = [];
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
    await nats?.stop();
  });

  it('each worker batches the calls it receives; every caller gets its own result', async () => {
    const url = `${nats.url}/batched`;
    const workers = ['a', 'b'].map((name) => {
      const s = new InferenceServer({ listen: url });
      s.registerInterface('double', (xs: unknown[]) => xs.map((x) => ({ worker: name, y: (x as number) * 2 })), {
        batch: { maxBatchSize: 16, maxDelayMs: 20 },
      });
      return s;
    });
    for (const w of workers) {
      await w.start();
      cleanups.push(() => w.stop());
    }
    const clients = [0, 1, 2, 3].map(() => new InferenceClient(url));
    for (const c of clients) cleanups.push(() => c.close());
    const results = (await Promise.all(Array.from({ length: 200 }, (_, i) => clients[i % 4]!.call('double', i)))) as {
      worker: string;
      y: number;
    }[];
    expect(results.map((r) => r.y)).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
    const stats = workers.map((w) => w.stats().batches.double!);
    // The calls were shared, and each worker put the calls it got into batches of more than one.
    expect(stats.reduce((a, s) => a + s.items, 0)).toBe(200);
    for (const [i, s] of stats.entries()) {
      expect(s.items, `worker ${i}`).toBe(results.filter((r) => r.worker === ['a', 'b'][i]).length);
      expect(s.items).toBeGreaterThan(0);
      expect(s.maxSize).toBeGreaterThan(1);
      expect(s.batches).toBeLessThan(s.items);
    }
  });
});
