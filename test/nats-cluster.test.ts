/**
 * A fleet on a 3-node NATS cluster (routed nats-servers, no JetStream): the node that carries a worker's and the
 * client's connections is SIGKILLed under load; both reconnect to a node they learned from the cluster's INFO
 * (nats.js, `ignoreClusterUpdates: false`), and calls are served again by both workers. A server and a client
 * whose own node is down at start reach the cluster through their seed list (`nats.connection.servers`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/nats.js';
import { TimeoutError } from '../src/core/errors.js';
import type { ConnectionStatus } from '../src/core/types.js';
import { InferenceClient, InferenceServer } from '../src/index.js';
import { waitFor } from './helpers.js';
import {
  NATS_SKIP_REASON,
  type NatsCluster,
  type NatsWorker,
  startNatsCluster,
  startNatsWorker,
  stopWorkers,
} from './nats-server.js';

type Outcome = { n: number; start: number; end: number; worker?: string; error?: unknown };

/** A call starts every PACE_MS (at most MAX_IN_FLIGHT at once), each with a deadline of DEADLINE_MS. */
const PACE_MS = 1;
const MAX_IN_FLIGHT = 64;
const DEADLINE_MS = 1000;

describe.skipIf(NATS_SKIP_REASON !== undefined)(`NATS cluster (${NATS_SKIP_REASON ?? 'nats-server found'})`, () => {
  let cluster: NatsCluster;
  let a: NatsWorker;
  let b: NatsWorker;
  const cleanups: (() => unknown)[] = [];
  const service = (i: number) => `${cluster.nodes[i]!.url}/cluster`;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
    // Worker a on node 0, worker b on node 1; node 2 carries nobody until node 0 dies.
    a = startNatsWorker(service(0), 'a');
    b = startNatsWorker(service(1), 'b');
    await waitFor(() => a.ready && b.ready, 'both workers to serve', 20_000);
  }, 30_000);

  afterAll(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
    await stopWorkers([a, b].filter(Boolean));
    await cluster?.stopAll();
  });

  it('SIGKILL of the node under a worker and the client: both fail over to another node, both workers serve again, only calls in flight at the kill time out, none answered twice', async () => {
    // The client knows node 0 only; the other nodes it learns from the cluster.
    const client = new InferenceClient(service(0), { timeoutMs: DEADLINE_MS });
    cleanups.push(() => client.close());
    const statuses: { at: number; status: ConnectionStatus }[] = [];
    const ac = new AbortController();
    cleanups.push(() => ac.abort());
    void (async () => {
      for await (const status of client.statusEvents(ac.signal)) statuses.push({ at: Date.now(), status });
    })();

    // Open-loop load: a call starts every few milliseconds whatever happened to the earlier ones (so calls lost at
    // the kill do not hold back the calls after it), each with its deadline.
    const outcomes: Outcome[] = [];
    const inFlight = new Set<Promise<void>>();
    let n = 0;
    let stop = false;
    const one = async (): Promise<void> => {
      const o: Outcome = { n: ++n, start: Date.now(), end: 0 };
      try {
        const r = (await client.call('work', { n: o.n, ms: 5 })) as { worker: string; n: number };
        o.worker = r.worker;
        if (r.n !== o.n) o.error = new Error(`call ${o.n} answered with ${r.n}`);
      } catch (error) {
        o.error = error;
      }
      o.end = Date.now();
      outcomes.push(o);
    };
    const running = (async () => {
      while (!stop) {
        if (inFlight.size < MAX_IN_FLIGHT) {
          const p = one().finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        await new Promise((r) => setTimeout(r, PACE_MS));
      }
      await Promise.all(inFlight);
    })();
    const servedBy = (name: string, from: number) =>
      outcomes.filter((o) => o.worker === name && o.start >= from).length;
    try {
      await waitFor(() => servedBy('a', 0) >= 50 && servedBy('b', 0) >= 50, 'both workers to answer under load');
      const killedAt = Date.now();
      await cluster.nodes[0]!.kill();
      // Calls started after the kill can only be answered once the client is on another node; a's answers to them
      // show that a is on another node too.
      await waitFor(
        () => servedBy('a', killedAt) >= 50 && servedBy('b', killedAt) >= 50,
        'both workers to answer calls made after the kill',
        10_000,
      );
      stop = true;
      await running;

      const failed = outcomes.filter((o) => o.error !== undefined);
      const firstServed = Math.min(...outcomes.filter((o) => o.worker && o.start >= killedAt).map((o) => o.end));
      const firstA = Math.min(...outcomes.filter((o) => o.worker === 'a' && o.start >= killedAt).map((o) => o.end));
      // The figures, in every failure message (and on stdout with EDGEML_TEST_VERBOSE=1).
      const figures = `${outcomes.length} calls, ${failed.length} failed at the kill; calls served again ${
        firstServed - killedAt
      } ms after it, by a ${firstA - killedAt} ms after it; client statuses ${statuses
        .map((s) => `${s.status}@${s.at - killedAt}ms`)
        .join(' ')}`;
      if (process.env.EDGEML_TEST_VERBOSE) console.log(figures);
      // The client saw its node go, and came back on another one.
      const after = statuses.filter((s) => s.at >= killedAt);
      const noticedAt = after.find((s) => s.status === 'disconnected')?.at ?? Number.NaN;
      expect(after.at(-1)?.status, figures).toBe('connected');
      expect(client.status).toBe('connected');
      // Only calls in flight at the kill (or made before the client noticed it) fail, each at its deadline: calls
      // made while the client is away wait for it to be back, and are answered.
      for (const o of failed) {
        expect(o.error, figures).toBeInstanceOf(TimeoutError);
        expect(o.end).toBeGreaterThanOrEqual(killedAt);
        expect(o.start, figures).toBeLessThanOrEqual(noticedAt);
      }
      expect(failed.length, figures).toBeLessThanOrEqual(MAX_IN_FLIGHT);
      expect(firstServed - killedAt, figures).toBeLessThan(DEADLINE_MS);
      // No call reached two workers, and none was answered twice.
      const handled = [...a.did, ...b.did];
      expect(new Set(handled).size).toBe(handled.length);
      const answered = outcomes.filter((o) => o.worker !== undefined).map((o) => o.n);
      expect(new Set(answered).size).toBe(answered.length);
      expect(answered.length + failed.length).toBe(n);
    } finally {
      stop = true;
      await running;
    }
  });

  it('a server and a client whose node is down at start reach the cluster through their seed list', async () => {
    // Node 0 is dead: without the seed list, the server's start() would fail and the client would wait for it.
    const seeds = { connection: { servers: cluster.urls } };
    const server = new InferenceServer({ listen: service(0), nats: seeds });
    server.registerInterface('work', (p) => ({ worker: 'c', n: (p as { n: number }).n }));
    await server.start();
    cleanups.push(() => server.stop());
    const client = new InferenceClient(service(0), { timeoutMs: 3000, nats: seeds });
    cleanups.push(() => client.close());
    const replies = (await Promise.all(
      Array.from({ length: 60 }, (_, i) => client.call('work', { n: -1 - i, ms: 1 })),
    )) as { worker: string }[];
    expect(new Set(replies.map((r) => r.worker))).toEqual(new Set(['a', 'b', 'c']));
  });
});
