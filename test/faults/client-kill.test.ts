/**
 * A client killed with SIGKILL in the middle of a large send (a 200 MB train step from a child process): the trainer
 * is unaffected and keeps serving its other clients, the train steps the dead client completed before are kept in
 * the table, and nothing of the half-sent step is stored.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TrainerClient, TrainerServer } from '../../src/index.js';
import { FAULT_TABLE, faultTrainerConfig } from '../fixtures/fault-config.js';
import { HOST, waitFor, within } from '../helpers.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { startFixture } from './child.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const MB = 1024 * 1024;

function tokens(server: TrainerServer): string[] {
  return (server.getData(FAULT_TABLE) ?? []).map((item) => (item as { token: string }).token);
}

describe('faults: client killed with SIGKILL', () => {
  it('in the middle of a 200 MB train step: the trainer goes on and keeps the completed steps', async () => {
    const stored: string[] = [];
    const server = new TrainerServer(faultTrainerConfig(0, 0), (_table, payload) => {
      stored.push((payload as { token: string }).token);
      return { ok: true };
    });
    await server.start();
    cleanups.push(() => server.stop());
    const proxy = new FaultProxy(HOST, server.port);
    const via = await proxy.start();
    cleanups.push(() => proxy.close());
    const other = await TrainerClient.connect(HOST, faultTrainerConfig(server.port, server.broadcastPort));
    cleanups.push(() => other.close());

    const BIG = 200 * MB;
    const child = startFixture('fault-client.ts', [server.port, server.broadcastPort, via, 5, BIG]);
    cleanups.push(() => child.kill());
    await child.line((l) => l === 'step 4', 'five completed train steps');
    await child.line((l) => l === 'big', 'the start of the large train step');

    // The other client keeps training while the large message streams in, and after the sender dies.
    let n = 0;
    const step = async (): Promise<void> => {
      const token = `other-${n++}`;
      expect(await other.trainStep(FAULT_TABLE, { token }, { timeoutMs: 10_000 })).toEqual({ ok: true });
    };
    const before = proxy.bytesUp;
    await step();
    await waitFor(() => proxy.bytesUp - before > 20 * MB, 'a good part of the large step to be on its way', 20_000);
    await step();
    await child.kill();
    // Killed in the middle: far from all of it went through (what the kernel still held may follow, no more).
    expect(proxy.bytesUp - before).toBeLessThan(BIG / 2);
    expect(child.lines).not.toContain('big done');
    await waitFor(() => proxy.connections === 0, 'the dead client’s connection to close');
    for (let i = 0; i < 5; i++) await step();

    const childTokens = ['child-0', 'child-1', 'child-2', 'child-3', 'child-4'];
    expect(tokens(server).filter((t) => t.startsWith('child-'))).toEqual(childTokens);
    expect(tokens(server).filter((t) => t.startsWith('other-'))).toEqual(
      Array.from({ length: n }, (_, i) => `other-${i}`),
    );
    expect(stored).toEqual(tokens(server));
    expect(server.pendingTrainSteps).toBe(0);
    const stats = server.stats();
    expect(stats.inFlight).toBe(0);
    expect(stats.bytesIn).toBeLessThan(BIG);

    // A new client process on the same machine is served as usual.
    const again = await within(
      TrainerClient.connect(HOST, faultTrainerConfig(server.port, server.broadcastPort)),
      10_000,
      'a new client',
    );
    cleanups.push(() => again.close());
    expect(await again.trainStep(FAULT_TABLE, { token: 'again' })).toEqual({ ok: true });
    expect(tokens(server).at(-1)).toBe('again');
  });
});
