import { afterEach, describe, expect, it } from 'vitest';
import { StatusEvents } from '../src/core/status-events.js';
import { InferenceClient, InferenceServer } from '../src/index.js';
import { HOST, within } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('client status events', () => {
  it('yields connected, then disconnected/reconnecting when the server stops, connected again, and ends at closed', async () => {
    const server = new InferenceServer({ port: 0, host: HOST });
    server.registerInterface('echo', (p) => p);
    await server.start();
    const port = server.port;
    const client = new InferenceClient(HOST, port, { timeoutMs: 5_000 });
    cleanups.push(() => client.close());
    const seen: string[] = [];
    const reading = (async () => {
      for await (const status of client.statusEvents()) seen.push(status);
    })();
    await client.call('echo', 1);
    await within(waitForStatus(seen, 'connected'), 5_000, 'connected');
    await server.stop();
    await within(waitForStatus(seen, 'disconnected'), 10_000, 'disconnected after the server stopped');
    const again = new InferenceServer({ port, host: HOST });
    again.registerInterface('echo', (p) => p);
    await again.start();
    cleanups.push(() => again.stop());
    await expect(client.call('echo', 2)).resolves.toBe(2);
    await within(waitForStatus(seen, 'connected', 2), 5_000, 'connected again');
    client.close();
    await within(reading, 5_000, 'the iterator to end after close');
    expect(seen.at(-1)).toBe('closed');
  });

  it('ends an iterator when its signal aborts, and starts no new one after closed', async () => {
    const events = new StatusEvents();
    const ac = new AbortController();
    const got: string[] = [];
    const loop = (async () => {
      for await (const s of events.iterate(ac.signal)) got.push(s);
    })();
    events.emit('connected');
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await within(loop, 1_000, 'aborted iterator to end');
    expect(got).toEqual(['connected']);
    events.emit('closed');
    const after: string[] = [];
    for await (const s of events.iterate()) after.push(s);
    expect(after).toEqual([]);
  });
});

async function waitForStatus(seen: string[], status: string, count = 1): Promise<void> {
  while (seen.filter((s) => s === status).length < count) await new Promise((r) => setTimeout(r, 5));
}
