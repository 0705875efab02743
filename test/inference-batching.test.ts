import { afterEach, describe, expect, it } from 'vitest';
import { InferenceClient, InferenceServer, RemoteError, Tensor, TimeoutError } from '../src/index.js';
import { HOST } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serve(server: InferenceServer): Promise<InferenceServer> {
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

function client(port: number): InferenceClient {
  const c = new InferenceClient(HOST, port, { timeoutMs: 10_000 });
  cleanups.push(() => c.close());
  return c;
}

describe('inference with dynamic batching', () => {
  it('gathers calls from many clients into batches and gives every caller its own result', async () => {
    const sizes: number[] = [];
    const server = new InferenceServer({ port: 0, host: HOST });
    server.registerInterface(
      'double',
      (payloads) => {
        sizes.push(payloads.length);
        return payloads.map((p) => {
          const t = (p as { x: Tensor<'float32'> }).x;
          return {
            id: (p as { id: number }).id,
            y: new Tensor(
              'float32',
              t.data.map((v) => v * 2),
              t.shape,
            ),
          };
        });
      },
      { batch: { maxBatchSize: 8, maxDelayMs: 20 } },
    );
    await serve(server);
    const clients = Array.from({ length: 4 }, () => client(server.port));
    const calls = Array.from({ length: 32 }, (_, id) =>
      clients[id % 4]!.call('double', {
        id,
        x: new Tensor('float32', Float32Array.of(id, id + 0.5), [2]),
      }),
    );
    const results = (await Promise.all(calls)) as { id: number; y: Tensor<'float32'> }[];
    results.forEach((r, id) => {
      expect(r.id).toBe(id);
      expect([...r.y.data]).toEqual([id * 2, id * 2 + 1]);
    });
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(32);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8);
    const stats = server.stats().batches.double!;
    expect(stats.items).toBe(32);
    expect(stats.batches).toBe(sizes.length);
    expect(stats.maxSize).toBe(Math.max(...sizes));
  });

  it('dispatches a lone call after maxDelayMs instead of waiting for a full batch', async () => {
    const server = new InferenceServer({ port: 0, host: HOST });
    server.registerInterface('id', (ps) => ps, { batch: { maxBatchSize: 64, maxDelayMs: 10 } });
    await serve(server);
    await expect(client(server.port).call('id', 'alone')).resolves.toBe('alone');
    expect(server.stats().batches.id).toMatchObject({ batches: 1, items: 1, sizes: { 1: 1 } });
  });

  it('keeps errors per caller: one failing item rejects only its caller; a throwing batch rejects all of its callers', async () => {
    const server = new InferenceServer({ port: 0, host: HOST });
    server.registerInterface(
      'check',
      (ps) => ps.map((p) => (p === 'bad' ? new RangeError(`refused ${String(p)}`) : `ok ${String(p)}`)),
      { batch: { maxBatchSize: 3, maxDelayMs: 50 } },
    );
    server.registerInterface(
      'explode',
      () => {
        throw new TypeError('model crashed');
      },
      { batch: { maxBatchSize: 2, maxDelayMs: 50 } },
    );
    await serve(server);
    const c = client(server.port);
    const settled = await Promise.allSettled([c.call('check', 'a'), c.call('check', 'bad'), c.call('check', 'b')]);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: 'ok a' });
    expect(settled[2]).toEqual({ status: 'fulfilled', value: 'ok b' });
    const rejected = settled[1] as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(RemoteError);
    expect((rejected.reason as RemoteError).remoteName).toBe('RangeError');

    const both = await Promise.allSettled([c.call('explode', 1), c.call('explode', 2)]);
    for (const s of both) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(RemoteError);
      expect(String((s as PromiseRejectedResult).reason)).toMatch(/model crashed/);
    }
    // The server goes on.
    await expect(c.call('check', 'c')).resolves.toBe('ok c');
  });

  it('holds each caller to its own deadline while a batch runs', async () => {
    let release: (() => void) | undefined;
    const server = new InferenceServer({ port: 0, host: HOST });
    server.registerInterface(
      'slow',
      async (ps) => {
        await new Promise<void>((r) => {
          release = r;
        });
        return ps;
      },
      { batch: { maxBatchSize: 2, maxDelayMs: 5 } },
    );
    await serve(server);
    const c = client(server.port);
    const impatient = c.call('slow', 'short', { timeoutMs: 200 });
    const patient = c.call('slow', 'long', { timeoutMs: 10_000 });
    await expect(impatient).rejects.toBeInstanceOf(TimeoutError);
    release!();
    await expect(patient).resolves.toBe('long');
  });
});
