/**
 * Issue 10, row 2: LZ4 frames that decompress to far more than they weigh, sent as train steps. A frame declaring
 * more than maxMessageBytes is refused before its output is allocated; frames within it are stored, but a table
 * holds at most its `maxBytes` (a FIFO table drops its oldest items to fit). (Before: tables were bounded in items
 * only, so each 4.2 MB frame declaring 1 GiB stored 1 GiB: 3 steps, 3.1 GB.)
 */
import { describe, expect, it } from 'vitest';
import { lz4Compress } from '../../src/wire/lz4.js';
import { ext, mp, request, statsOf } from './attack.js';
import { RSS_BOUND_MB, startTarget } from './server.js';

const MiB = 1024 * 1024;

/** A train-step payload `{token, data}` whose data is frame 1, compressed, declaring `raw` bytes. */
function lz4Payload(token: string, raw: number): Uint8Array {
  return mp((w) => {
    w.mapHeader(2);
    w.string('token');
    w.string(token);
    w.string('data');
    ext(w, 1, (b) => {
      b.arrayHeader(3);
      b.int(1);
      b.string('lz4');
      b.int(raw);
    });
  });
}

describe('row 2: decompression bombs', () => {
  it('a frame declaring more than maxMessageBytes is refused with LimitError; a table keeps to its maxBytes', async () => {
    const t = await startTarget('trainer', { maxMessageBytes: 64 * MiB, tableMaxBytes: 64 * MiB });
    // 4.2 MB of input could hold 1 GiB by the 255x rule, but the message limit is 64 MiB.
    await t.attacker.send([request(1, 'train', 'steps', lz4Payload('huge', 1024 ** 3)), new Uint8Array(4_300_000)]);
    expect(await t.attacker.errorCode(1)).toBe('EDGEML_LIMIT');
    // Valid blocks of 24 MiB of zeros (~100 KB each): within the message limit, stored; the table holds two at most.
    const block = lz4Compress(new Uint8Array(24 * MiB))!;
    expect(block.byteLength).toBeLessThan(200_000);
    const STEPS = 8;
    for (let id = 2; id < 2 + STEPS; id++) {
      await t.attacker.send([request(id, 'train', 'steps', lz4Payload(`bomb${id}`, 24 * MiB)), block]);
    }
    const served = t.legit.call('train', 'steps', { token: 'legit' });
    // Awaited below; a failed assertion before then must not leave it unhandled.
    served.catch(() => {});
    for (let id = 2; id < 2 + STEPS; id++) expect(await t.attacker.errorCode(id)).toBeUndefined();
    expect(await served).toEqual({ stored: true });
    const stats = await statsOf(t.fixture);
    expect(stats.table!.bytes).toBeLessThanOrEqual(64 * MiB);
    expect(stats.table!.size).toBeLessThanOrEqual(3);
    expect(stats.table!.dropped).toBeGreaterThanOrEqual(STEPS - 2);
    expect(t.callbacks()).not.toContain('cb train huge');
    expect(t.alive()).toBe(true);
    const memory = t.memory();
    expect(memory.peakMB).toBeLessThan(RSS_BOUND_MB);
    process.stdout.write(
      `row 2: table ${stats.table!.size} items / ${Math.round(stats.table!.bytes / MiB)} MiB, peak ${memory.peakMB} MB, longest stall ${stats.maxStallMs} ms\n`,
    );
  });
});
