/**
 * One suite, run against every transport (ZeroMQ on loopback, in-process, NATS): the rpc and broadcast semantics
 * users rely on must not depend on the transport underneath. `conformance.test.ts` runs it over the built-in
 * transports, `nats-conformance.test.ts` over NATS.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, ClosedError, LimitError, TimeoutError } from '../src/core/errors.js';
import type { Endpoint } from '../src/core/types.js';
import {
  type Delivery,
  latestFetcher,
  Publisher,
  Subscriber,
  type SubscriberOptions,
  serveLatest,
} from '../src/messaging/broadcast.js';
import { RpcClient, type RpcClientOptions } from '../src/messaging/rpc-client.js';
import { RpcServer, type RpcServerOptions } from '../src/messaging/rpc-server.js';
import type { ConnectionStatus, Transport } from '../src/transport/types.js';
import { gate, waitFor } from './helpers.js';

/** A transport and the endpoints the suite uses with it. */
export interface ConformanceTarget {
  name: string;
  make: () => Transport;
  /** An endpoint to bind a new server on (port 0 where the transport picks a free one). */
  bindable: () => Endpoint;
  /** Where clients reach a server bound on `requested` that reported port `port`. */
  bound: (requested: Endpoint, port: number) => Endpoint;
  /** An endpoint nothing serves yet, for a server started later. */
  vacant: () => Promise<Endpoint>;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

export function conformanceSuite(target: ConformanceTarget): void {
  describe(`conformance over ${target.name}`, () => {
    let transport: Transport;

    async function server(
      setup: (s: RpcServer) => void,
      at?: Endpoint,
      options?: RpcServerOptions,
    ): Promise<{ rpc: RpcServer; at: Endpoint }> {
      const rpc = new RpcServer(options);
      setup(rpc);
      const requested = at ?? target.bindable();
      const [bound] = (await rpc.start([{ transport, endpoint: requested }])) as [number];
      cleanups.push(() => rpc.stop());
      return { rpc, at: target.bound(requested, bound) };
    }

    function client(at: Endpoint, options?: RpcClientOptions): RpcClient {
      const c = new RpcClient(transport, at, { timeoutMs: 5000, ...options });
      cleanups.push(() => c.close());
      return c;
    }

    /** Where each publisher's `latest` is served (an rpc server beside it, as in every mode), by publisher URL. */
    const latestAt = new Map<string, Endpoint>();

    async function publisher(): Promise<{ pub: Publisher; at: Endpoint }> {
      const pub = new Publisher();
      const requested = target.bindable();
      const [bound] = (await pub.start([{ transport, endpoint: requested }])) as [number];
      cleanups.push(() => pub.stop());
      const at = target.bound(requested, bound);
      // On an endpoint of its own, so that stopping the publisher is seen by its subscribers on every transport.
      const { at: rpcAt } = await server((rpc) => serveLatest(rpc, pub), await target.vacant());
      latestAt.set(at.url, rpcAt);
      return { pub, at };
    }

    function subscriber<T = unknown>(
      at: Endpoint,
      topics: string[],
      onMessage: (d: Delivery<T>) => void | Promise<void>,
      options?: SubscriberOptions,
    ): Subscriber<T> {
      const rpcAt = latestAt.get(at.url);
      const rpc = rpcAt === undefined ? undefined : client(rpcAt);
      const sub = new Subscriber<T>(transport, at, topics, onMessage, {
        ...(rpc ? { fetchLatest: latestFetcher((m, n, p) => rpc.call(m, n, p)) } : {}),
        ...options,
      });
      cleanups.push(() => sub.close());
      return sub;
    }

    beforeEach(() => {
      transport = target.make();
    });

    describe('rpc', () => {
      it('matches replies that come back out of order to their calls by id', async () => {
        const gates = new Map<string, ReturnType<typeof gate<string>>>();
        const { at } = await server((s) =>
          s.handle('hold', (p) => {
            const g = gate<string>();
            gates.set(p as string, g);
            return g.promise;
          }),
        );
        const c = client(at);
        const order: string[] = [];
        const calls = ['a', 'b', 'c'].map((k) =>
          c.call('hold', undefined, k).then((v) => {
            order.push(k);
            return v;
          }),
        );
        await waitFor(() => gates.size === 3, 'all three calls to reach the server');
        for (const k of ['c', 'a', 'b']) {
          gates.get(k)!.open(`reply-${k}`);
          await waitFor(() => order.includes(k), `reply ${k}`);
        }
        expect(await Promise.all(calls)).toEqual(['reply-a', 'reply-b', 'reply-c']);
        expect(order).toEqual(['c', 'a', 'b']);
      });

      it('drops a reply that comes after its call timed out, counts it, and keeps working', async () => {
        const hold = gate();
        let started = false;
        const { at } = await server((s) => {
          s.handle('slow', async () => {
            started = true;
            await hold.promise;
            return 'too late';
          });
          s.handle('echo', (p) => p);
        });
        const c = client(at);
        const e = await c.call('slow', undefined, null, { timeoutMs: 100 }).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(TimeoutError);
        expect(started).toBe(true);
        expect(c.lateReplies).toBe(0);
        hold.open();
        await waitFor(() => c.lateReplies === 1, 'the late reply to arrive and be dropped');
        expect(await c.call('echo', undefined, 'next')).toBe('next');
        expect(c.lateReplies).toBe(1);
      });

      it('never sends a request that went stale while no server was there', async () => {
        const at = await target.vacant();
        const c = client(at);
        const e = await c.call('count', undefined, null, { timeoutMs: 100 }).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(TimeoutError);
        const ac = new AbortController();
        const aborted = c.call('count', undefined, null, { signal: ac.signal }).catch((x: unknown) => x);
        ac.abort();
        expect(await aborted).toBeInstanceOf(AbortError);
        let count = 0;
        await server((s) => s.handle('count', () => ++count), at);
        // A fresh call goes through once the server is up; the two stale ones were never delivered.
        expect(await c.call('count', undefined, null)).toBe(1);
        expect(count).toBe(1);
      });

      it('holds a call made before the server starts, and delivers it once the server is up', async () => {
        const at = await target.vacant();
        const c = client(at);
        const early = c.call('echo', undefined, 'early');
        await server((s) => s.handle('echo', (p) => p), at);
        expect(await early).toBe('early');
      });

      it('reports connected, then disconnected when the server stops, and reconnects', async () => {
        const statuses: ConnectionStatus[] = [];
        const { rpc, at } = await server((s) => s.handle('echo', (p) => p));
        const c = client(at, { onStatus: (s) => statuses.push(s) });
        expect(await c.call('echo', undefined, 1)).toBe(1);
        expect(statuses).toContain('connected');
        expect(c.status).toBe('connected');
        await rpc.stop();
        await waitFor(() => statuses.includes('disconnected'), 'a disconnected event');
        expect(statuses.indexOf('connected')).toBeLessThan(statuses.indexOf('disconnected'));
        await server((s) => s.handle('echo', (p) => p), at);
        expect(await c.call('echo', undefined, 2)).toBe(2);
        expect(statuses.lastIndexOf('connected')).toBeGreaterThan(statuses.indexOf('disconnected'));
        c.close();
        expect(c.status).toBe('closed');
      });

      it('rejects waiting calls with ClosedError on close, and calls made after it', async () => {
        const hold = gate();
        const { rpc, at } = await server((s) => s.handle('slow', () => hold.promise));
        const c = client(at);
        const waiting = [c.call('slow', undefined, 1), c.call('slow', undefined, 2)].map((p) =>
          p.catch((x: unknown) => x),
        );
        await waitFor(() => rpc.stats().inFlight === 2, 'both calls to reach the server');
        c.close();
        for (const e of await Promise.all(waiting)) expect(e).toBeInstanceOf(ClosedError);
        expect(await c.call('slow', undefined, 3).catch((x: unknown) => x)).toBeInstanceOf(ClosedError);
        hold.open();
        await waitFor(() => rpc.stats().inFlight === 0, 'the handlers to finish');
      });

      it('answers requests over the per-client in-flight limit with LimitError', async () => {
        const hold = gate();
        const { rpc, at } = await server((s) => s.handle('slow', () => hold.promise), undefined, {
          maxInFlightPerClient: 2,
        });
        const c = client(at);
        const first = [c.call('slow', undefined, 1), c.call('slow', undefined, 2)];
        await waitFor(() => rpc.stats().inFlight === 2, 'two calls running');
        expect(await c.call('slow', undefined, 3).catch((x: unknown) => x)).toBeInstanceOf(LimitError);
        // Another client has its own budget.
        const other = client(at);
        const third = other.call('slow', undefined, 4);
        await waitFor(() => rpc.stats().inFlight === 3, 'the other client’s call running');
        hold.open();
        await Promise.all([...first, third]);
        expect(rpc.stats().errors).toBe(1);
      });

      it('rejects calls beyond maxPendingCalls with LimitError without sending them', async () => {
        const at = await target.vacant();
        const c = client(at, { maxPendingCalls: 2, timeoutMs: 200 });
        const a = c.call('x', undefined, 1).catch((x: unknown) => x);
        const b = c.call('x', undefined, 2).catch((x: unknown) => x);
        expect(await c.call('x', undefined, 3).catch((x: unknown) => x)).toBeInstanceOf(LimitError);
        expect(await a).toBeInstanceOf(TimeoutError);
        expect(await b).toBeInstanceOf(TimeoutError);
      });
    });

    describe('broadcast', () => {
      it('delivers every message to several subscribers of a topic, and only to them', async () => {
        const { pub, at } = await publisher();
        const got: number[][] = [[], [], []];
        for (let i = 0; i < 3; i++)
          subscriber<number>(at, ['obs'], (d) => void got[i]!.push(d.payload), { queueSize: 100 });
        const others: string[] = [];
        subscriber<string>(at, ['obs2'], (d) => void others.push(d.payload));
        await waitFor(() => pub.stats().subscriptions >= 4, 'four subscriptions');
        for (let v = 1; v <= 5; v++) pub.publish('obs', v);
        pub.publish('obs2', 'sentinel');
        await waitFor(() => got.every((g) => g.length === 5) && others.length === 1, 'every message');
        for (const g of got) expect(g).toEqual([1, 2, 3, 4, 5]);
        // 'obs' is a prefix of 'obs2', but a subscriber only sees its own topics.
        expect(others).toEqual(['sentinel']);
        expect(pub.latestSeq('obs')).toBe(5);
      });

      it('gives a late joiner the latest value at once, and nothing older', async () => {
        const { pub, at } = await publisher();
        const marks: string[] = [];
        subscriber<string>(at, ['mark'], (d) => void marks.push(d.payload));
        await waitFor(() => pub.stats().subscriptions >= 1, 'the marker subscription');
        for (let v = 1; v <= 3; v++) pub.publish('weights', { version: v });
        // Messages leave in order: once the marker arrived, the three values have gone out (to nobody).
        pub.publish('mark', 'sent');
        await waitFor(() => marks.length === 1, 'the marker');
        const got: Delivery<{ version: number }>[] = [];
        const sub = subscriber<{ version: number }>(at, ['weights'], (d) => void got.push(d));
        await waitFor(() => got.length === 1, 'the latest value');
        expect(got[0]!.payload).toEqual({ version: 3 });
        expect(got[0]!.seq).toBe(3);
        expect(got[0]!.epoch).toBe(pub.epoch);
        expect(sub.latest('weights')?.seq).toBe(3);
        pub.publish('weights', { version: 4 });
        await waitFor(() => got.length === 2, 'the next value');
        expect(got.map((d) => d.payload.version)).toEqual([3, 4]);
        // Nothing older than the latest counts as lost for a late joiner.
        expect(sub.stats().dropped).toBe(0);
      });

      it('keeps a slow subscriber on the newest data: the queue is bounded and drops are counted', async () => {
        const { pub, at } = await publisher();
        const hold = gate();
        const seqs: number[] = [];
        const sub = subscriber<number>(
          at,
          ['cam'],
          async (d) => {
            seqs.push(d.seq);
            if (d.seq === 1) await hold.promise;
          },
          { queueSize: 2 },
        );
        await waitFor(() => pub.stats().subscriptions >= 1, 'the subscription');
        for (let v = 1; v <= 20; v++) pub.publish('cam', v);
        await waitFor(() => sub.latest('cam')?.seq === 20, 'the newest message to arrive');
        expect(seqs).toEqual([1]);
        hold.open();
        await waitFor(() => seqs.at(-1) === 20, 'the newest message to be delivered');
        expect(seqs).toHaveLength(3);
        expect(seqs[0]).toBe(1);
        expect(seqs[1]).toBeLessThan(20);
        const st = sub.stats();
        expect(st.dropped).toBe(17);
        expect(st.delivered).toBe(3);
      });

      it('a late joiner’s copy goes to it alone: earlier subscribers receive nothing again', async () => {
        const { pub, at } = await publisher();
        // 41 is published before anyone subscribes, so the first subscriber receives it only through its own fetch
        // on connect: once it has it, that fetch is over and cannot race what follows.
        pub.publish('t', 41);
        const first: number[] = [];
        const a = subscriber<number>(at, ['t'], (d) => void first.push(d.payload));
        await waitFor(() => first.length === 1, 'the first subscriber’s own fetch');
        pub.publish('t', 42);
        await waitFor(() => first.length === 2, 'the first delivery');
        const duplicatesBefore = a.stats().duplicates;
        const resentBefore = pub.stats().resent;
        const second: number[] = [];
        subscriber<number>(at, ['t'], (d) => void second.push(d.payload));
        await waitFor(() => second.length === 1, 'the late joiner’s copy');
        expect(pub.stats().resent).toBe(resentBefore + 1);
        pub.publish('t', 43);
        await waitFor(() => first.length === 3 && second.length === 2, 'the next message');
        expect(a.stats().duplicates).toBe(duplicatesBefore);
        expect(first).toEqual([41, 42, 43]);
        expect(second).toEqual([42, 43]);
        expect(a.stats().delivered).toBe(3);
      });

      it('after a publisher restart on the same endpoint, subscribers get new messages and a new one gets the latest', async () => {
        const { pub, at } = await publisher();
        const statuses: ConnectionStatus[] = [];
        const got: number[] = [];
        subscriber<number>(at, ['w'], (d) => void got.push(d.payload), { onStatus: (s) => statuses.push(s) });
        await waitFor(() => pub.stats().subscriptions >= 1, 'the subscription');
        pub.publish('w', 1);
        await waitFor(() => got.length === 1, 'the first message');
        await pub.stop();
        expect(() => pub.publish('w', 2)).toThrow(ClosedError);
        await waitFor(() => statuses.includes('disconnected'), 'the subscriber to see the publisher go');
        const late: number[] = [];
        subscriber<number>(at, ['w'], (d) => void late.push(d.payload));
        await pub.start([{ transport, endpoint: at }]);
        await waitFor(() => late.length === 1, 'the latest value for the subscriber that joined while it was down');
        expect(late).toEqual([1]);
        await waitFor(() => pub.stats().subscriptions >= 3, 'the first subscriber to subscribe again');
        pub.publish('w', 2);
        await waitFor(() => got.length === 2 && late.length === 2, 'the message after the restart');
        expect(got).toEqual([1, 2]);
        expect(late).toEqual([1, 2]);
      });

      it('stops delivering once a subscriber is closed', async () => {
        const { pub, at } = await publisher();
        const closedOne: number[] = [];
        const openOne: number[] = [];
        const a = subscriber<number>(at, ['x'], (d) => void closedOne.push(d.payload));
        subscriber<number>(at, ['x'], (d) => void openOne.push(d.payload));
        await waitFor(() => pub.stats().subscriptions >= 2, 'both subscriptions');
        pub.publish('x', 1);
        await waitFor(() => closedOne.length === 1 && openOne.length === 1, 'the first message');
        a.close();
        expect(a.status).toBe('closed');
        pub.publish('x', 2);
        await waitFor(() => openOne.length === 2, 'the open subscriber to get the second message');
        expect(closedOne).toEqual([1]);
      });
    });
  });
}
