/**
 * Issue 10, row 3: a `hello` whose config holds a 20 or 40 MiB byte string. The handshake compares configs in a
 * bounded canonical form and refuses a config over DEFAULT_MAX_CONFIG_BYTES with a small LimitError at once. (Before:
 * the event loop stalled 53 s / 170 s, 3.7 / 4.5 GB peak, and the mismatch reply was 261 / 534 MB.)
 */
import { describe, expect, it } from 'vitest';
import { ActionClient } from '../../src/modes/action/client.js';
import { ActionConfig } from '../../src/modes/action/config.js';
import { HOST } from '../helpers.js';
import { ext, mp, request, statsOf } from './attack.js';
import { RSS_BOUND_MB, startTarget } from './server.js';

const MiB = 1024 * 1024;

/** A hello payload `{mode: "action", config: {..., version: <frame 1 bytes>}}`. */
function hello(): Uint8Array {
  return mp((w) => {
    w.mapHeader(2);
    w.string('mode');
    w.string('action');
    w.string('config');
    w.mapHeader(3);
    w.string('actionKeys');
    w.arrayHeader(1);
    w.string('move');
    w.string('observationKeys');
    w.arrayHeader(2);
    w.string('cam1');
    w.string('state');
    w.string('version');
    ext(w, 1, (b) => b.int(1));
  });
}

describe('row 3: a hello with a huge config', () => {
  it('20 and 40 MiB byte strings in the config get a small LimitError at once; a legitimate client connects', async () => {
    const t = await startTarget('action');
    await t.attacker.send([request(1, 'hello', undefined, hello()), new Uint8Array(20 * MiB).fill(7)]);
    await t.attacker.send([request(2, 'hello', undefined, hello()), new Uint8Array(40 * MiB).fill(9)]);
    const client = await ActionClient.connect(
      HOST,
      new ActionConfig({
        portNumber: t.port,
        actionKeys: ['move'],
        observationKeys: ['cam1', 'state'],
        version: 'hostile',
      }),
      { timeoutMs: 15_000 },
    );
    try {
      for (const id of [1, 2]) {
        const { env, bytes } = await t.attacker.reply(id);
        expect(env.kind === 'err' && env.error.code).toBe('EDGEML_LIMIT');
        expect(bytes).toBeLessThan(2048);
      }
      expect(await client.obs(['cam1'])).toEqual({ cam1: 'cam1' });
    } finally {
      await client.close();
    }
    const stats = await statsOf(t.fixture);
    expect(stats.maxStallMs).toBeLessThan(1000);
    expect(t.alive()).toBe(true);
    const memory = t.memory();
    expect(memory.peakMB).toBeLessThan(RSS_BOUND_MB);
    process.stdout.write(`row 3: peak ${memory.peakMB} MB, longest stall ${stats.maxStallMs} ms\n`);
  });
});
