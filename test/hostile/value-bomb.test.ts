/**
 * Issue 10, row 1: train steps and inference calls whose 16 MiB header is 16 M empty msgpack maps (every collection
 * within maxCollectionLength). With maxValues the server refuses each with a LimitError after counting at most
 * 1 M values, stays small and responsive, and serves a legitimate client meanwhile. (Before: the trainer died of a V8
 * heap OOM after 5 steps; an inference server stalled 4.3 s per message and reached 1.1–3.3 GB.)
 */
import { describe, expect, it } from 'vitest';
import { emptyMapBomb, request, statsOf } from './attack.js';
import { RSS_BOUND_MB, startTarget } from './server.js';

const BOMB = emptyMapBomb(16, 999_999);
const STEPS = 6;

describe('row 1: a value-count bomb', () => {
  it.each([
    ['trainer', 'train', 'steps', { stored: true }],
    ['inference', 'call', 'echo', { token: 'legit' }],
  ] as const)(
    '%s: each 16 MiB header of empty maps gets a LimitError; the server stays small and serves a legitimate client',
    async (kind, method, name, answer) => {
      const t = await startTarget(kind);
      expect(BOMB.byteLength).toBeGreaterThan(16_000_000);
      for (let id = 1; id <= STEPS; id++) await t.attacker.send([request(id, method, name, BOMB)]);
      const served = t.legit.call(method, name, { token: 'legit' });
      // Awaited below; a failed assertion before then must not leave it unhandled.
      served.catch(() => {});
      for (let id = 1; id <= STEPS; id++) expect(await t.attacker.errorCode(id)).toBe('EDGEML_LIMIT');
      expect(await served).toEqual(answer);
      expect(t.alive()).toBe(true);
      expect(t.callbacks()).toEqual([`cb ${method} legit`]);
      const stats = await statsOf(t.fixture);
      expect(stats.maxStallMs).toBeLessThan(1000);
      const memory = t.memory();
      expect(memory.peakMB).toBeLessThan(RSS_BOUND_MB);
      process.stdout.write(`row 1 ${kind}: peak ${memory.peakMB} MB, longest stall ${stats.maxStallMs} ms\n`);
    },
  );
});
