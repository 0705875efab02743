/**
 * A server killed with SIGKILL in the middle of calls, then started again on the same port: the callers get a
 * `TimeoutError` at their deadlines (no hang, no other error), then carry on with the same client objects; no request
 * is sent again to the new server, and every answer reaches the call it belongs to.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InferenceClient, TimeoutError } from '../../src/index.js';
import { HOST, waitFor, within } from '../helpers.js';
import { type Fixture, startServer } from './child.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** Settles `promise` to its error, failing the test if it resolves. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (v) => {
      throw new Error(`expected a failure, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}

async function server(port: number): Promise<{ fixture: Fixture; port: number }> {
  const { server: fixture, ports } = await startServer(['inference', port]);
  cleanups.push(() => fixture.kill());
  return { fixture, port: ports[0]! };
}

describe('faults: server killed with SIGKILL', () => {
  it('calls in flight time out at their deadlines; after a restart the same clients recover', async () => {
    const first = await server(0);
    const port = first.port;
    const clients = [new InferenceClient(HOST, port), new InferenceClient(HOST, port)];
    for (const c of clients) cleanups.push(() => c.close());
    for (const [i, c] of clients.entries())
      expect(await c.call('echo', { token: `warm-${i}` })).toEqual({ token: `warm-${i}` });

    // Calls the server has received and is working on when it dies.
    const HELD_MS = 1_500;
    const started = Date.now();
    const held = clients.flatMap((c, i) =>
      [0, 1, 2].map((j) => failure(c.call('hold', { token: `held-${i}-${j}` }, { timeoutMs: HELD_MS }))),
    );
    await waitFor(() => first.fixture.lines.filter((l) => l.startsWith('held ')).length === 6, 'six held calls');
    await first.fixture.kill();

    // Calls made while the server is down.
    const down = [0, 1, 2].map((j) => failure(clients[0]!.call('echo', { token: `down-${j}` }, { timeoutMs: 300 })));
    for (const e of await within(Promise.all(down), 10_000, 'calls to the dead server')) {
      expect(e).toBeInstanceOf(TimeoutError);
      expect((e as TimeoutError).timeoutMs).toBe(300);
    }
    for (const e of await within(Promise.all(held), 10_000, 'the held calls')) {
      expect(e).toBeInstanceOf(TimeoutError);
      expect((e as TimeoutError).timeoutMs).toBe(HELD_MS);
    }
    // Not rejected early on the disconnect: the deadline is what ends them (10 ms of timer slack allowed).
    expect(Date.now() - started).toBeGreaterThanOrEqual(HELD_MS - 10);

    // A call made while the server is down, with a deadline long enough to outlive the restart.
    const patient = clients[1]!.call('echo', { token: 'patient' }, { timeoutMs: 20_000 });
    const second = await server(port);
    expect(second.port).toBe(port);
    expect(await within(patient, 25_000, 'the patient call')).toEqual({ token: 'patient' });

    // Both clients, many concurrent calls: every caller gets its own answer.
    const tokens = clients.flatMap((_, i) => Array.from({ length: 20 }, (_, j) => `after-${i}-${j}`));
    const answers = await Promise.all(
      tokens.map((token, k) => clients[k % 2 === 0 ? 0 : 1]!.call('echo', { token }, { timeoutMs: 10_000 })),
    );
    expect(answers).toEqual(tokens.map((token) => ({ token })));

    // The new server saw each request once, and none of those that timed out before it started. (Its log lines come
    // through a pipe and may trail the replies: wait until it has logged at least as many as were answered.)
    const logged = (): string[] => second.fixture.lines.filter((l) => l.startsWith('got ')).map((l) => l.slice(4));
    await waitFor(() => logged().length >= tokens.length + 1, "the new server's log of the calls it got");
    const got = logged();
    expect([...got].sort()).toEqual(['patient', ...tokens].sort());
  });

  it('a server killed twice in a row: clients go on each time', async () => {
    const first = await server(0);
    const port = first.port;
    const client = new InferenceClient(HOST, port, { timeoutMs: 10_000 });
    cleanups.push(() => client.close());
    expect(await client.call('echo', { token: 'a' })).toEqual({ token: 'a' });
    let current = first.fixture;
    for (const round of [1, 2]) {
      const inFlight = failure(client.call('hold', { token: `hold-${round}` }, { timeoutMs: 800 }));
      await current.line((l) => l === `held hold-${round}`, 'the held call');
      await current.kill();
      expect(await within(inFlight, 10_000, 'the held call')).toBeInstanceOf(TimeoutError);
      current = (await server(port)).fixture;
      expect(await client.call('echo', { token: `round-${round}` })).toEqual({ token: `round-${round}` });
    }
  });
});
