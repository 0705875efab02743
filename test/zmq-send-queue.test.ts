import { describe, expect, it } from 'vitest';
import type * as zmq from 'zeromq';
import { SendQueue } from '../src/transport/zmq/send-queue.js';

/** A socket whose sends wait until released, recording what was sent. */
function gatedSocket(): { socket: zmq.Writable; sent: Uint8Array[][]; release: () => void } {
  const sent: Uint8Array[][] = [];
  let gate: (() => void) | undefined;
  const socket = {
    send: (frames: Uint8Array[]) =>
      new Promise<void>((resolve) => {
        gate = () => {
          sent.push(frames);
          resolve();
        };
      }),
  } as unknown as zmq.Writable;
  return { socket, sent, release: () => gate?.() };
}

describe('SendQueue', () => {
  it('bounds the bytes it holds for a blocked socket: drops the oldest waiting, keeps the one in flight and the newest', async () => {
    const { socket, sent, release } = gatedSocket();
    const q = new SendQueue(socket, undefined, 1000);
    const msg = (i: number): Uint8Array[] => [Uint8Array.of(i), new Uint8Array(299)];
    for (let i = 0; i < 10; i++) q.push(msg(i));
    // 300 bytes each, at most 1000 bytes held: the head (0, in flight) and the newest two (8, 9) fit, 900 bytes;
    // each push past that dropped the oldest waiting one, 1 to 7.
    expect(sent).toHaveLength(0);
    expect(q.length).toBe(3);
    expect(q.dropped).toBe(7);
    while (q.length > 0) {
      release();
      await new Promise((r) => setImmediate(r));
    }
    expect(sent.map((frames) => frames[0]![0])).toEqual([0, 8, 9]);
    expect(sent.every((frames) => frames.length === 2 && frames[1]!.byteLength === 299)).toBe(true);
    expect(q.dropped).toBe(7);
  });

  it('keeps every message when no bound is set', async () => {
    const { socket, sent, release } = gatedSocket();
    const q = new SendQueue(socket);
    for (let i = 0; i < 50; i++) q.push([Uint8Array.of(i)]);
    while (q.length > 0) {
      release();
      await new Promise((r) => setImmediate(r));
    }
    expect(sent.map((f) => f[0]![0])).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(q.dropped).toBe(0);
  });
});
