/**
 * A client or server closed while one of its messages is still being handed to ZeroMQ (found by the soak run):
 * the waiting call rejects with a `ClosedError`, and nothing is left to throw later (an unhandled rejection would
 * end a user's process).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type * as zmq from 'zeromq';
import { ClosedError, InferenceClient, InferenceServer } from '../../src/index.js';
import { SendQueue } from '../../src/transport/zmq/send-queue.js';
import { HOST } from '../helpers.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
const cleanups: (() => unknown)[] = [];
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
  process.off('unhandledRejection', onUnhandled);
});

/** Lets pending promise reactions and the unhandled-rejection check run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

/** A socket whose sends wait until released (or fail, as a socket closed meanwhile does). */
function gatedSocket(): { socket: zmq.Writable; release: () => void; fail: () => void } {
  let gate: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  const socket = {
    send: () =>
      new Promise<void>((resolve, reject) => {
        gate = { resolve, reject };
      }),
  } as unknown as zmq.Writable;
  return {
    socket,
    release: () => gate?.resolve(),
    fail: () => gate?.reject(Object.assign(new Error('Socket is closed'), { code: 'EBADF' })),
  };
}

describe('faults: closed during a send', () => {
  it('a send queue closed while a send is pending: the send completing later throws nothing', async () => {
    for (const outcome of ['release', 'fail'] as const) {
      const gated = gatedSocket();
      const queue = new SendQueue(gated.socket);
      queue.push([Uint8Array.of(1)]);
      queue.push([Uint8Array.of(2)]);
      queue.close();
      gated[outcome]();
      await settle();
      expect(unhandled, outcome).toEqual([]);
      expect(queue.length).toBe(0);
    }
  });

  it('an inference client closed right after a call: the call rejects with ClosedError, nothing else', async () => {
    const server = new InferenceServer({ port: 0, host: HOST });
    server.registerInterface('echo', (p) => p);
    await server.start();
    cleanups.push(() => server.stop());
    for (let i = 0; i < 20; i++) {
      const client = new InferenceClient(HOST, server.port, { timeoutMs: 10_000 });
      expect(await client.call('echo', i)).toBe(i);
      const waiting = client.call('echo', new Uint8Array(64 * 1024)).catch((e: unknown) => e);
      client.close();
      expect(await waiting).toBeInstanceOf(ClosedError);
    }
    await settle();
    expect(unhandled).toEqual([]);
  });
});
