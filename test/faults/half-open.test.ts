/**
 * A half-open connection: the peer is still "connected" as far as TCP knows, but nothing gets through (a fault proxy
 * in blackhole mode). ZMTP heartbeats make the client notice: its status leaves 'connected' (reported through
 * `onStatus`) well before a call's deadline, calls in flight reject at their deadlines, and once the network is back
 * the same client works again. The same holds for a subscriber, which then gets the newest value.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tcpEndpoint } from '../../src/core/endpoint.js';
import {
  ActionClient,
  ActionServer,
  type ConnectionStatus,
  type Delivery,
  InferenceClient,
  InferenceServer,
  TimeoutError,
} from '../../src/index.js';
import { Publisher, Subscriber } from '../../src/messaging/broadcast.js';
import { ZmqTransport } from '../../src/zmq.js';
import { HOST, latestService, waitFor, within } from '../helpers.js';
import { FaultProxy } from '../support/fault-proxy.js';

const HEARTBEAT_MS = 100;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function proxyTo(port: number): Promise<{ proxy: FaultProxy; port: number }> {
  const proxy = new FaultProxy(HOST, port);
  const proxyPort = await proxy.start();
  cleanups.push(() => proxy.close());
  return { proxy, port: proxyPort };
}

describe('faults: half-open connection', () => {
  it('an inference client with heartbeats notices a silent server before its call deadline, then recovers', async () => {
    const server = new InferenceServer({ port: 0, host: HOST, heartbeatMs: HEARTBEAT_MS });
    server.registerInterface('echo', (p) => p);
    await server.start();
    cleanups.push(() => server.stop());
    const { proxy, port } = await proxyTo(server.port);
    const client = new InferenceClient(HOST, port, { heartbeatMs: HEARTBEAT_MS });
    cleanups.push(() => client.close());
    expect(await client.call('echo', 1)).toBe(1);
    proxy.blackhole();
    let settled = false;
    const call = client.call('echo', 2, { timeoutMs: 3_000 }).finally(() => {
      settled = true;
    });
    await waitFor(() => client.status !== 'connected', 'the inference client to notice the silent server');
    expect(settled).toBe(false);
    await expect(within(call, 8_000, 'the call to a silent server')).rejects.toBeInstanceOf(TimeoutError);
    proxy.pass();
    expect(await client.call('echo', 3, { timeoutMs: 5_000 })).toBe(3);
  });

  it('an action client notices through heartbeats, its call times out at the deadline, and it recovers', async () => {
    const keys = { actionKeys: ['move'], observationKeys: ['cam'] };
    let moves = 0;
    const server = new ActionServer(
      { portNumber: 0, ...keys },
      () => ({ cam: 1 }),
      (_key, payload) => {
        moves++;
        return payload;
      },
      { host: HOST, heartbeatMs: HEARTBEAT_MS },
    );
    await server.start();
    cleanups.push(() => server.stop());
    const { proxy, port } = await proxyTo(server.port);
    // One log of status changes and call outcomes, in the order they happened.
    const log: string[] = [];
    const client = await ActionClient.connect(
      HOST,
      { portNumber: port, ...keys },
      { heartbeatMs: HEARTBEAT_MS, onStatus: (s: ConnectionStatus) => log.push(s) },
    );
    cleanups.push(() => client.close());
    expect(await client.act('move', 1)).toBe(1);
    expect(client.status).toBe('connected');

    proxy.blackhole();
    const mark = log.length;
    const CALL_MS = 3_000;
    const call = client.act('move', 2, { timeoutMs: CALL_MS }).then(
      () => log.push('call answered'),
      (e: unknown) => {
        log.push(e instanceof TimeoutError ? 'call timed out' : `call failed: ${String(e)}`);
        return e;
      },
    );
    await waitFor(() => client.status !== 'connected', 'the client to notice the silent server');
    const noticed = log.slice(mark);
    expect(noticed[0]).toBe('disconnected');
    expect(noticed).not.toContain('call timed out');
    const e = await within(call, CALL_MS + 5_000, 'the call to a silent server');
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as TimeoutError).timeoutMs).toBe(CALL_MS);
    expect(log.slice(mark)).not.toContain('connected');
    expect(proxy.bytesLost).toBeGreaterThan(0);

    proxy.pass();
    await waitFor(() => client.status === 'connected', 'the client to reconnect');
    expect(await client.act('move', 3)).toBe(3);
    // The request sent into the blackhole never reached the server, and was not sent again after the recovery.
    expect(moves).toBe(2);
  });

  it('a subscriber notices through heartbeats and gets the newest value once the network is back', async () => {
    const transport = new ZmqTransport();
    const pub = new Publisher({ heartbeatMs: HEARTBEAT_MS });
    const [pubPort] = (await pub.start([{ transport, endpoint: tcpEndpoint(HOST, 0) }])) as [number];
    cleanups.push(() => pub.stop());
    const latest = await latestService(transport, pub);
    cleanups.push(latest.close);
    const { proxy, port } = await proxyTo(pubPort);
    const statuses: ConnectionStatus[] = [];
    const got: Delivery<number>[] = [];
    const sub = new Subscriber<number>(transport, tcpEndpoint(HOST, port), ['t'], (d) => void got.push(d), {
      fetchLatest: latest.fetchLatest,
      heartbeatMs: HEARTBEAT_MS,
      onStatus: (s) => statuses.push(s),
    });
    cleanups.push(() => sub.close());
    pub.publish('t', 0);
    await waitFor(() => got.length > 0, 'the first message');

    proxy.blackhole();
    await waitFor(() => sub.status !== 'connected', 'the subscriber to notice the silent publisher');
    expect(statuses).toContain('disconnected');
    // The publisher goes on meanwhile; nothing reaches the subscriber.
    for (let i = 1; i <= 20; i++) pub.publish('t', i);
    proxy.pass();
    await waitFor(() => sub.latest('t')?.payload === 20, 'the newest value after the recovery');
    expect(sub.latest('t')?.epoch).toBe(pub.epoch);
    const seqs = got.map((d) => d.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(sub.stats().malformed).toBe(0);
  });
});
