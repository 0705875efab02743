/**
 * How a NATS request socket learns that its requests were not bounced, against a real nats-server: one flush (a
 * PING the NATS server answers) covers the requests of a short while, so a sequential caller does not pay a PING and
 * a PONG per call; a large request is let go at its own flush; a request bounced while no server serves is held and
 * sent once one does.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import '../src/nats.js';
import { InferenceClient, InferenceServer, Tensor } from '../src/index.js';
import { NatsLink } from '../src/transport/nats/link.js';
import { waitFor } from './helpers.js';
import { NATS_SKIP_REASON, type NatsServerProcess, startNatsServer } from './nats-server.js';

describe.skipIf(NATS_SKIP_REASON !== undefined)(`NATS confirms (${NATS_SKIP_REASON ?? 'nats-server found'})`, () => {
  let nats: NatsServerProcess;
  const cleanups: (() => unknown)[] = [];
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  async function serve(service: string): Promise<InferenceServer> {
    const server = new InferenceServer({ listen: `${nats.url}/${service}` });
    server.registerInterface('echo', (p) => p);
    await server.start();
    cleanups.push(() => server.stop());
    return server;
  }

  function connect(service: string): InferenceClient {
    const client = new InferenceClient(`${nats.url}/${service}`, { timeoutMs: 5000 });
    cleanups.push(() => client.close());
    return client;
  }

  it('sequential small calls share their flushes instead of one each', async () => {
    await serve('seq');
    const client = connect('seq');
    await client.call('echo', { x: 0 });
    const flush = vi.spyOn(NatsLink.prototype, 'flush');
    const started = performance.now();
    for (let i = 0; i < 100; i++) expect(await client.call('echo', { x: i })).toEqual({ x: i });
    // At most one flush per 10 ms (one per call before), however fast or slow the machine is.
    const elapsed = performance.now() - started;
    expect(flush.mock.calls.length).toBeLessThanOrEqual(Math.ceil(elapsed / 10) + 2);
  });

  it('a large request is confirmed by a flush of its own at once', async () => {
    await serve('large');
    const client = connect('large');
    await client.call('echo', { x: 0 });
    const flush = vi.spyOn(NatsLink.prototype, 'flush');
    const t = new Tensor('uint8', new Uint8Array(64 * 1024).fill(3), [64 * 1024]);
    const r = (await client.call('echo', { t })) as { t: Tensor };
    expect(r.t.shape).toEqual([64 * 1024]);
    expect(flush).toHaveBeenCalled();
  });

  it('a request bounced while no server serves is held and answered once one does', async () => {
    const first = await serve('gap');
    const client = connect('gap');
    expect(await client.call('echo', { x: 1 })).toEqual({ x: 1 });
    await first.stop();
    // Called while the client may still think a server is there: bounced by the NATS server, held, sent again.
    const call = client.call('echo', { x: 2 }, { timeoutMs: 10_000 });
    await waitFor(() => client.status !== 'connected', 'the client to see no server', 5000);
    await serve('gap');
    expect(await call).toEqual({ x: 2 });
  });
});
