import { afterEach, describe, expect, it, vi } from 'vitest';
import { EdgeMLError, InvalidArgumentError } from '../src/core/errors.js';
import { Batcher } from '../src/messaging/batching.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('Batcher', () => {
  it('dispatches a full batch at once and gives each caller its own result, in order', async () => {
    const seen: number[][] = [];
    const b = new Batcher<number, number>(
      (xs) => {
        seen.push(xs);
        return xs.map((x) => x * 10);
      },
      { maxBatchSize: 4, maxDelayMs: 60_000 },
    );
    const results = await Promise.all([1, 2, 3, 4].map((x) => b.submit(x)));
    expect(results).toEqual([10, 20, 30, 40]);
    expect(seen).toEqual([[1, 2, 3, 4]]);
    expect(b.stats()).toMatchObject({ batches: 1, items: 4, maxSize: 4, sizes: { 4: 1 } });
  });

  it('dispatches a partial batch exactly at maxDelayMs, never later', async () => {
    vi.useFakeTimers();
    const fn = vi.fn((xs: string[]) => xs.map((x) => x.toUpperCase()));
    const b = new Batcher(fn, { maxBatchSize: 8, maxDelayMs: 25 });
    const p = Promise.all([b.submit('a'), b.submit('b')]);
    vi.advanceTimersByTime(24);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    await expect(p).resolves.toEqual(['A', 'B']);
  });

  it('splits a burst larger than maxBatchSize into several batches', async () => {
    const sizes: number[] = [];
    const b = new Batcher<number, number>(
      (xs) => {
        sizes.push(xs.length);
        return xs;
      },
      { maxBatchSize: 3, maxDelayMs: 5 },
    );
    const out = await Promise.all(Array.from({ length: 7 }, (_, i) => b.submit(i)));
    expect(out).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(sizes).toEqual([3, 3, 1]);
  });

  it('keeps errors per caller: an Error result rejects only its own caller', async () => {
    const b = new Batcher<number, number | Error>(
      (xs) => xs.map((x) => (x % 2 === 0 ? x : new RangeError(`odd ${x}`))),
      { maxBatchSize: 4, maxDelayMs: 5 },
    );
    const settled = await Promise.allSettled([1, 2, 3, 4].map((x) => b.submit(x)));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((settled[0] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError);
    expect((settled[1] as PromiseFulfilledResult<number>).value).toBe(2);
  });

  it('rejects every caller of a batch whose function throws, and goes on with the next batch', async () => {
    let calls = 0;
    const b = new Batcher<number, number>(
      (xs) => {
        calls++;
        if (calls === 1) throw new TypeError('model failed');
        return xs;
      },
      { maxBatchSize: 2, maxDelayMs: 5 },
    );
    const first = await Promise.allSettled([b.submit(1), b.submit(2)]);
    expect(first.every((s) => s.status === 'rejected' && s.reason instanceof TypeError)).toBe(true);
    await expect(Promise.all([b.submit(3), b.submit(4)])).resolves.toEqual([3, 4]);
  });

  it('rejects with an EdgeMLError when the function returns the wrong number of results', async () => {
    const b = new Batcher<number, number>(() => [1], { maxBatchSize: 2, maxDelayMs: 5 });
    const settled = await Promise.allSettled([b.submit(1), b.submit(2)]);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(EdgeMLError);
      expect(String((s as PromiseRejectedResult).reason)).toMatch(/array of 2 results, got 1 results/);
    }
  });

  it('runs batches one at a time with maxConcurrency 1', async () => {
    let running = 0;
    let maxRunning = 0;
    const gates: (() => void)[] = [];
    const b = new Batcher<number, number>(
      async (xs) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((r) => gates.push(r));
        running--;
        return xs;
      },
      { maxBatchSize: 1, maxDelayMs: 0, maxConcurrency: 1 },
    );
    const all = Promise.all([b.submit(1), b.submit(2), b.submit(3)]);
    for (let i = 0; i < 3; i++) {
      while (gates.length === 0) await new Promise((r) => setImmediate(r));
      gates.shift()!();
    }
    await expect(all).resolves.toEqual([1, 2, 3]);
    expect(maxRunning).toBe(1);
  });

  it('validates its options', () => {
    expect(() => new Batcher((x) => x, { maxBatchSize: 0, maxDelayMs: 1 })).toThrow(InvalidArgumentError);
    expect(() => new Batcher((x) => x, { maxBatchSize: 2, maxDelayMs: -1 })).toThrow(/batch.maxDelayMs/);
  });
});
