/**
 * Issue 10, row 10: values the protocol forbids never reach user callbacks, and error replies never echo peer input
 * at length. Bool tensors holding bytes other than 0/1, dims that are floats (`2.0`, `-0`), maps repeating a key,
 * `obs` naming one key 1 000 000 times: a ProtocolError reply, no callback. A 15 MiB method or interface name: a
 * reply of a few hundred bytes. (Before: all of these reached the callbacks, and the 15 MiB name came back whole.)
 */
import { describe, expect, it } from 'vitest';
import type { MsgpackWriter } from '../../src/wire/msgpack-writer.js';
import { ext, mp, request, statsOf } from './attack.js';
import { RSS_BOUND_MB, startTarget } from './server.js';

/** `{token, t: <tensor ext of dtype and dims written by dims, frame 1>}`. */
function tensorPayload(token: string, dtype: string, dims: (w: MsgpackWriter) => void): Uint8Array {
  return mp((w) => {
    w.mapHeader(2);
    w.string('token');
    w.string(token);
    w.string('t');
    ext(w, 3, (b) => {
      b.arrayHeader(3);
      b.string(dtype);
      dims(b);
      b.int(1);
    });
  });
}

describe('row 10: forbidden values and long names', () => {
  it('inference: bad bools, float dims and duplicate keys get ProtocolError without reaching the handler; long names get small replies', async () => {
    const t = await startTarget('inference');
    const a = t.attacker;
    await a.send([
      request(
        1,
        'call',
        'echo',
        tensorPayload('bool', 'bool', (b) => list(b, 3)),
      ),
      Uint8Array.of(0, 1, 2),
    ]);
    await a.send([
      request(
        2,
        'call',
        'echo',
        tensorPayload('float-dim', 'uint8', (b) => floats(b, 2)),
      ),
      Uint8Array.of(1, 2),
    ]);
    await a.send([
      request(
        3,
        'call',
        'echo',
        tensorPayload('neg-zero', 'uint8', (b) => floats(b, -0)),
      ),
      new Uint8Array(0),
    ]);
    const dup = mp((w) => {
      w.mapHeader(3);
      w.string('token');
      w.string('dup');
      w.string('x');
      w.int(1);
      w.string('x');
      w.int(2);
    });
    await a.send([request(4, 'call', 'echo', dup)]);
    const longName = 'm'.repeat(15 * 1024 * 1024);
    const nil = Uint8Array.of(0xc0);
    await a.send([request(5, longName, undefined, nil)]);
    await a.send([request(6, 'call', longName, nil)]);
    const served = t.legit.call('call', 'echo', { token: 'legit' });
    // Awaited below; a failed assertion before then must not leave it unhandled.
    served.catch(() => {});
    for (const id of [1, 2, 3, 4]) expect(await a.errorCode(id)).toBe('EDGEML_PROTOCOL');
    for (const [id, code] of [
      [5, 'EDGEML_INVALID_ARGUMENT'],
      [6, 'EDGEML_NOT_FOUND'],
    ] as const) {
      const { env, bytes } = await a.reply(id);
      expect(env.kind === 'err' && env.error.code).toBe(code);
      expect(bytes).toBeLessThan(1024);
    }
    expect(await served).toEqual({ token: 'legit' });
    expect(t.callbacks()).toEqual(['cb call legit']);
    expect(t.alive()).toBe(true);
    const stats = await statsOf(t.fixture);
    expect(t.memory().peakMB).toBeLessThan(RSS_BOUND_MB);
    process.stdout.write(`row 10 inference: peak ${t.memory().peakMB} MB, longest stall ${stats.maxStallMs} ms\n`);
  });

  it('action: obs naming a key a million times gets ProtocolError and never reaches the observation callback', async () => {
    const t = await startTarget('action');
    // 999 000 keys: within maxValues (1 000 000 whole, refused as a LimitError), so the duplicate rule is what refuses it.
    const N = 999_000;
    const keys = new Uint8Array(5 + N * 5);
    keys.set([0xdd]);
    new DataView(keys.buffer).setUint32(1, N);
    for (let i = 0; i < N; i++) keys.set([0xa4, 0x63, 0x61, 0x6d, 0x31], 5 + i * 5); // "cam1"
    const payload = new Uint8Array(1 + 5 + keys.length);
    payload.set([0x81, 0xa4, 0x6b, 0x65, 0x79, 0x73]); // {keys: ...}
    payload.set(keys, 6);
    await t.attacker.send([request(1, 'obs', undefined, payload)]);
    const served = t.legit.call('obs', undefined, { keys: ['cam1'] });
    // Awaited below; a failed assertion before then must not leave it unhandled.
    served.catch(() => {});
    const { env, bytes } = await t.attacker.reply(1);
    expect(env.kind === 'err' && env.error.code).toBe('EDGEML_PROTOCOL');
    expect(bytes).toBeLessThan(1024);
    expect(await served).toEqual({ cam1: 'cam1' });
    expect(t.callbacks()).toEqual(['cb obs 1']);
    expect(t.alive()).toBe(true);
    expect(t.memory().peakMB).toBeLessThan(RSS_BOUND_MB);
  });
});

function list(w: MsgpackWriter, ...dims: number[]): void {
  w.arrayHeader(dims.length);
  for (const d of dims) w.int(d);
}

function floats(w: MsgpackWriter, ...dims: number[]): void {
  w.arrayHeader(dims.length);
  for (const d of dims) w.float64(d);
}
