/**
 * NATS options against a real nats-server: credentials refused and accepted, and two deployments kept apart by
 * their subject prefixes on one NATS server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/nats.js';
import { AuthenticationError, InvalidArgumentError } from '../src/core/errors.js';
import { InferenceClient, InferenceServer } from '../src/index.js';
import { waitFor } from './helpers.js';
import { NATS_SKIP_REASON, type NatsServerProcess, startNatsServer } from './nats-server.js';

describe.skipIf(NATS_SKIP_REASON !== undefined)(`NATS options (${NATS_SKIP_REASON ?? 'nats-server found'})`, () => {
  let nats: NatsServerProcess;
  const cleanups: (() => unknown)[] = [];
  beforeAll(async () => {
    nats = await startNatsServer(['--user', 'edge', '--pass', 's3cret']);
  });
  afterAll(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
    await nats?.stop();
  });

  const good = { user: 'edge', pass: 's3cret' };

  it('refuses a bad nats option in the constructor', () => {
    expect(() => new InferenceServer({ listen: 'nats://127.0.0.1:4222/x', nats: { prefix: 'a b' } })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new InferenceClient('nats://127.0.0.1:4222/x', { nats: { token: 't', user: 'u' } })).toThrow(
      InvalidArgumentError,
    );
  });

  it('a server with wrong credentials fails start(); a client with them is unauthorized, then works once fixed', async () => {
    const url = `${nats.url}/auth`;
    const bad = new InferenceServer({ listen: url, nats: { user: 'edge', pass: 'nope' } });
    await expect(bad.start()).rejects.toBeInstanceOf(AuthenticationError);
    const server = new InferenceServer({ listen: url, nats: good });
    server.registerInterface('echo', (p) => p);
    await server.start();
    cleanups.push(() => server.stop());
    const refused = new InferenceClient(url, { nats: { user: 'edge', pass: 'nope' }, timeoutMs: 3000 });
    cleanups.push(() => refused.close());
    const e = await refused.call('echo', 1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AuthenticationError);
    expect(refused.status).toBe('unauthorized');
    const client = new InferenceClient(url, { nats: good, timeoutMs: 3000 });
    cleanups.push(() => client.close());
    expect(await client.call('echo', 2)).toBe(2);
  });

  it('keeps two deployments apart on one NATS server by their prefixes', async () => {
    const url = `${nats.url}/detector`;
    const servers = ['fleetA', 'fleetB'].map((prefix) => {
      const s = new InferenceServer({ listen: url, nats: { ...good, prefix } });
      s.registerInterface('who', () => prefix);
      return s;
    });
    for (const s of servers) {
      await s.start();
      cleanups.push(() => s.stop());
    }
    const a = new InferenceClient(url, { nats: { ...good, prefix: 'fleetA' } });
    const b = new InferenceClient(url, { nats: { ...good, prefix: 'fleetB' } });
    const none = new InferenceClient(url, { nats: good, timeoutMs: 300 });
    cleanups.push(
      () => a.close(),
      () => b.close(),
      () => none.close(),
    );
    const answers = await Promise.all([...Array(20)].map((_, i) => (i % 2 ? b : a).call('who', null)));
    expect(answers).toEqual([...Array(20)].map((_, i) => (i % 2 ? 'fleetB' : 'fleetA')));
    // The default prefix has no server: the call waits, and times out.
    await expect(none.call('who', null)).rejects.toThrow(/timed out/);
    await waitFor(() => none.status === 'disconnected', 'the default-prefix client to see no server');
  });
});
