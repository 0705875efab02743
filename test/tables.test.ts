/**
 * Data tables: bounded ring buffer in insertion order, FIFO and non-FIFO policies, counters, sampling, consumption
 * and waiting for a minimum size. No sockets.
 */

import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TABLE_BYTES } from '../src/core/defaults.js';
import { AbortError, ClosedError, InvalidArgumentError, LimitError, TimeoutError } from '../src/core/errors.js';
import { mulberry32 } from '../src/modes/env/cartpole.js';
import { DataTable, TableStore } from '../src/modes/trainer/tables.js';
import { payloadBytes } from '../src/wire/payload-bytes.js';
import { within } from './helpers.js';

function table(size: number, fifo?: boolean): TableStore<number> {
  return new TableStore<number>(new DataTable(fifo === undefined ? { name: 't', size } : { name: 't', size, fifo }));
}

/** A deterministic uniform generator. */
const seeded = mulberry32;

describe('DataTable', () => {
  it('validates its fields and defaults to FIFO', () => {
    expect(new DataTable({ name: 'agent1', size: 2 }).toJSON()).toEqual({ name: 'agent1', size: 2, fifo: true });
    const bad = (o: unknown): string => {
      try {
        new DataTable(o as never);
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidArgumentError);
        return (e as InvalidArgumentError).field;
      }
      throw new Error('expected a throw');
    };
    expect(bad(null)).toBe('dataTable');
    expect(bad({ name: 'a', size: 1.5 })).toBe('dataTable.size');
    expect(bad({ name: 'a', size: -1 })).toBe('dataTable.size');
    expect(bad({ name: 7, size: 1 })).toBe('dataTable.name');
    expect(bad({ name: 'a', size: 1, capacity: 3 })).toBe('dataTable.capacity');
  });
});

describe('TableStore', () => {
  it('keeps at most size items in insertion order, dropping the oldest first (FIFO)', () => {
    const t = table(3);
    for (let i = 1; i <= 7; i++) {
      t.insert(i);
      expect(t.size).toBe(Math.min(i, 3));
    }
    expect(t.items()).toEqual([5, 6, 7]);
    expect(t.stats()).toEqual({
      name: 't',
      capacity: 3,
      fifo: true,
      size: 3,
      maxBytes: DEFAULT_MAX_TABLE_BYTES,
      bytes: 3 * payloadBytes(0),
      inserted: 7,
      dropped: 4,
      rejected: 0,
      taken: 0,
    });
  });

  it('a non-FIFO table refuses new items when full, counts them, and takes items oldest first', () => {
    const t = table(2, false);
    t.insert(1);
    t.insert(2);
    expect(() => t.insert(3)).toThrow(LimitError);
    expect(t.items()).toEqual([1, 2]);
    expect(t.take(1)).toEqual([1]);
    t.insert(4);
    expect(t.items()).toEqual([2, 4]);
    expect(t.take()).toEqual([2, 4]);
    expect(t.size).toBe(0);
    expect(t.take(5)).toEqual([]);
    expect(t.stats()).toMatchObject({ inserted: 3, rejected: 1, taken: 3, dropped: 0 });
  });

  it('keeps order through wrap-around, take and refill', () => {
    const t = table(4);
    const model: number[] = [];
    const rnd = seeded(7);
    for (let i = 0; i < 500; i++) {
      if (rnd() < 0.7) {
        t.insert(i);
        model.push(i);
        if (model.length > 4) model.shift();
      } else {
        const n = Math.floor(rnd() * 3);
        expect(t.take(n)).toEqual(model.splice(0, n));
      }
      expect(t.items()).toEqual(model);
    }
  });

  it('samples uniformly with replacement, and distinct items without', () => {
    const t = table(4);
    for (const v of [10, 20, 30, 40]) t.insert(v);
    const counts = new Map<number, number>();
    for (const v of t.sample(40_000, { random: seeded(1) })) counts.set(v, (counts.get(v) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual([10, 20, 30, 40]);
    for (const c of counts.values()) expect(Math.abs(c - 10_000)).toBeLessThan(600);
    const firsts = new Map<number, number>();
    for (let i = 0; i < 4000; i++) {
      const s = t.sample(3, { replace: false, random: seeded(100 + i) });
      expect(new Set(s).size).toBe(3);
      firsts.set(s[0]!, (firsts.get(s[0]!) ?? 0) + 1);
    }
    for (const c of firsts.values()) expect(Math.abs(c - 1000)).toBeLessThan(200);
    expect(t.sample(10, { replace: false }).sort()).toEqual([10, 20, 30, 40]);
    expect(table(3).sample(5)).toEqual([]);
    expect(() => t.sample(-1)).toThrow(InvalidArgumentError);
  });

  it('waits for a minimum size, with deadline, abort and cancellation', async () => {
    const t = table(5);
    await within(t.waitForSize(0), 1000, 'size 0');
    const two = t.waitForSize(2);
    t.insert(1);
    t.insert(2);
    await within(two, 1000, 'size 2');
    await expect(t.waitForSize(6)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t.waitForSize(3, { timeoutMs: 10 })).rejects.toBeInstanceOf(TimeoutError);
    const controller = new AbortController();
    const aborted = t.waitForSize(4, { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    const cancelled = t.waitForSize(5);
    t.cancelWaits();
    await expect(cancelled).rejects.toBeInstanceOf(ClosedError);
  });

  it('restores saved items and counters, refusing more items than the size', () => {
    const t = table(3);
    t.restore([1, 2], { inserted: 9, dropped: 7, rejected: 0, taken: 0 });
    t.insert(3);
    t.insert(4);
    expect(t.items()).toEqual([2, 3, 4]);
    expect(t.stats()).toMatchObject({ inserted: 11, dropped: 8 });
    expect(() => t.restore([1, 2, 3, 4], { inserted: 4, dropped: 0, rejected: 0, taken: 0 })).toThrow(
      InvalidArgumentError,
    );
  });
});
