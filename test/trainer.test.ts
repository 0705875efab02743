/**
 * Trainer mode over real sockets (ZeroMQ on loopback, ephemeral ports), plus the basic flow on the in-process
 * transport: tables, custom requests, weights broadcast, handshake, rate limit and backpressure.
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tcpEndpoint } from '../src/core/endpoint.js';
import {
  AbortError,
  ClosedError,
  ConfigMismatchError,
  InvalidArgumentError,
  LimitError,
  NotFoundError,
  RemoteError,
  TimeoutError,
} from '../src/core/errors.js';
import { RpcClient } from '../src/messaging/rpc-client.js';
import { TrainerClient, type TrainerClientOptions } from '../src/modes/trainer/client.js';
import { RateLimiter, TrainerConfig, type TrainerConfigOptions } from '../src/modes/trainer/config.js';
import { type TrainCallback, TrainerServer, type TrainerServerOptions } from '../src/modes/trainer/server.js';
import { DataTable } from '../src/modes/trainer/tables.js';
import { Tensor } from '../src/tensor/tensor.js';
import type { Transport } from '../src/transport/types.js';
import { ZmqTransport } from '../src/transport/zmq/zmq-transport.js';
import { HOST, transports, waitFor, within } from './helpers.js';

const servers: TrainerServer[] = [];
const clients: { close(): unknown }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.stop();
});

type Fields = Omit<TrainerConfigOptions, 'portNumber' | 'broadcastPort'>;

async function startServer(
  fields: Fields,
  train?: TrainCallback,
  request?: (type: string, payload: unknown) => unknown,
  options: TrainerServerOptions = {},
): Promise<TrainerServer> {
  const server = new TrainerServer({ ...fields, portNumber: 0, broadcastPort: 0 }, train, request, options);
  servers.push(server);
  await server.start();
  return server;
}

/** The client's config: the server's, with the ports it bound. */
function configOf(server: TrainerServer, changes: Partial<TrainerConfigOptions> = {}): TrainerConfig {
  return new TrainerConfig({
    ...server.config.toJSON(),
    portNumber: server.port,
    broadcastPort: server.broadcastPort,
    ...changes,
  });
}

async function connect<W = unknown>(
  server: TrainerServer,
  options: TrainerClientOptions = {},
  changes: Partial<TrainerConfigOptions> = {},
): Promise<TrainerClient<W>> {
  const client = await TrainerClient.connect<W>(HOST, configOf(server, changes), options);
  clients.push(client);
  return client;
}

function field(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).field;
  }
  throw new Error('expected an InvalidArgumentError');
}

const one = [new DataTable({ name: 'agent1', size: 2 })];

describe('TrainerConfig', () => {
  it('has documented defaults, takes plain objects, and names the invalid field', () => {
    const config = new TrainerConfig({ dataTable: [new DataTable({ name: 'agent1', size: 2 })] });
    expect(config.portNumber).toBe(5555);
    expect(config.broadcastPort).toBe(5556);
    expect(config.requestTypes).toEqual([]);
    expect(config.rateLimit).toBeUndefined();
    expect(config.dataTable[0]?.fifo).toBe(true);
    expect(new TrainerConfig({ dataTable: [{ name: 'a', size: 1, fifo: false }] }).table('a')?.fifo).toBe(false);
    const bad = (o: unknown): string => field(() => new TrainerConfig(o as TrainerConfigOptions));
    expect(bad({})).toBe('dataTable');
    expect(bad({ dataTable: [] })).toBe('dataTable');
    expect(bad({ dataTable: [{ name: 'a', size: 0 }] })).toBe('dataTable[0].size');
    expect(bad({ dataTable: [{ name: '', size: 1 }] })).toBe('dataTable[0].name');
    expect(bad({ dataTable: [{ name: 'a', size: 1, fifo: 'yes' }] })).toBe('dataTable[0].fifo');
    expect(
      bad({
        dataTable: [
          { name: 'a', size: 1 },
          { name: 'a', size: 2 },
        ],
      }),
    ).toBe('dataTable[1]');
    expect(bad({ dataTable: one, portNumber: 70_000 })).toBe('portNumber');
    expect(bad({ dataTable: one, portNumber: 6000, broadcastPort: 6000 })).toBe('broadcastPort');
    expect(bad({ dataTable: one, requestTypes: ['a', ''] })).toBe('requestTypes[1]');
    expect(bad({ dataTable: one, requestTypes: ['a', 'a'] })).toBe('requestTypes[1]');
    expect(bad({ dataTable: one, rateLimit: -1 })).toBe('rateLimit');
    expect(bad({ dataTable: one, version: 3 })).toBe('version');
    expect(bad({ dataTable: one, port_number: 5555 })).toBe('port_number');
    expect(field(() => new TrainerServer({ dataTable: one }, 'nope' as never))).toBe('trainCallback');
  });

  it('spaces calls evenly and refuses a slot beyond the allowed wait (rate limiter, fake clock)', () => {
    let now = 1000;
    const limiter = new RateLimiter(10, () => now);
    expect(limiter.reserve()).toBe(0);
    expect(limiter.reserve()).toBe(100);
    expect(limiter.reserve()).toBe(200);
    expect(limiter.reserve(250)).toBeUndefined(); // slot 300 ms away, nothing reserved
    expect(limiter.reserve(300)).toBe(300);
    now += 10_000;
    expect(limiter.reserve()).toBe(0);
  });
});

describe.each(transports)('trainer flow ($name)', ({ make }) => {
  it('stores each trainStep FIFO within the table size, runs the train callback after storing, serves requests', async () => {
    const transport: Transport = make();
    const calls: { table: string; payload: unknown; storedAtCall: unknown[] }[] = [];
    let server: TrainerServer | undefined;
    server = await startServer(
      {
        dataTable: [new DataTable({ name: 'agent1', size: 2 }), { name: 'agent2', size: 3 }],
        requestTypes: ['stats', 'checkpoint'],
      },
      (table, payload) => {
        calls.push({ table, payload, storedAtCall: server!.getData(table)! });
        return { ok: true, n: calls.length };
      },
      (type, payload) => ({ type, echo: payload }),
      { transport },
    );
    const client = await connect(server, { transport });
    for (let i = 0; i < 4; i++) {
      expect(await client.trainStep('agent1', { observation: [i, i + 0.5] })).toEqual({ ok: true, n: i + 1 });
    }
    await client.trainStep('agent2', { observation: [9] });
    expect(server.getData('agent1')).toEqual([{ observation: [2, 2.5] }, { observation: [3, 3.5] }]);
    expect(server.getData('agent2')).toEqual([{ observation: [9] }]);
    expect(server.getData('missing')).toBeUndefined();
    expect(server.tableNames()).toEqual(['agent1', 'agent2']);
    expect(server.tableStats('agent1')).toMatchObject({ size: 2, capacity: 2, inserted: 4, dropped: 2 });
    // The callback saw its payload already stored, as the newest item.
    for (const c of calls) expect(c.storedAtCall.at(-1)).toEqual(c.payload);
    expect(calls.map((c) => c.table)).toEqual(['agent1', 'agent1', 'agent1', 'agent1', 'agent2']);
    expect(await client.request('stats', { x: 1 })).toEqual({ type: 'stats', echo: { x: 1 } });
    expect(await client.request('checkpoint')).toEqual({ type: 'checkpoint', echo: null });
  });
});

describe('trainer over ZeroMQ', () => {
  it('boundConfig gives clients the ports a port-0 server actually bound', async () => {
    const server = await startServer({ dataTable: [new DataTable({ name: 't', size: 2 })] });
    expect(server.boundConfig.portNumber).toBe(server.port);
    expect(server.boundConfig.broadcastPort).toBe(server.broadcastPort);
    expect(server.port).toBeGreaterThan(0);
    const client = await TrainerClient.connect(HOST, server.boundConfig, { connectTimeoutMs: 5_000 });
    clients.push(client);
    await client.trainStep('t', { x: 1 });
    expect(server.getData('t')).toEqual([{ x: 1 }]);
  });

  it('rejects unknown tables and request types locally (nothing sent) and on the server', async () => {
    const server = await startServer({ dataTable: one, requestTypes: ['stats'] }, () => 'stored');
    const client = await connect(server);
    const before = server.stats();
    await expect(client.trainStep('agent9', {})).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.request('reboot', {})).rejects.toBeInstanceOf(NotFoundError);
    const after = server.stats();
    expect(after.requests + after.errors).toBe(before.requests + before.errors);
    const raw = new RpcClient(new ZmqTransport(), tcpEndpoint(HOST, server.port));
    clients.push({ close: () => raw.close() });
    await expect(raw.call('train', 'agent9', {})).rejects.toThrow(/unknown table "agent9"/);
    await expect(raw.call('train', 'agent9', {})).rejects.toBeInstanceOf(NotFoundError);
    await expect(raw.call('train', undefined, {})).rejects.toBeInstanceOf(NotFoundError);
    await expect(raw.call('request', 'reboot', {})).rejects.toBeInstanceOf(NotFoundError);
    expect(server.getData('agent1')).toEqual([]);
    expect(await raw.call('train', 'agent1', { ok: 1 })).toBe('stored');
  });

  it('refuses a client whose config differs (naming the fields) and times out without a server', async () => {
    const server = await startServer({ dataTable: one, requestTypes: ['b', 'a'] });
    // Order of tables and request types does not matter.
    const same = await connect(server, {}, { requestTypes: ['a', 'b'] });
    expect(same.status).not.toBe('closed');
    const err = await TrainerClient.connect(
      HOST,
      configOf(server, { version: '2.0', dataTable: [{ name: 'agent1', size: 3 }] }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigMismatchError);
    expect((err as ConfigMismatchError).fields).toEqual(['dataTable', 'version']);
    const port = server.port;
    const cfg = configOf(server);
    await server.stop();
    await expect(TrainerClient.connect(HOST, cfg, { connectTimeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
    await expect(TrainerClient.connect(HOST, { dataTable: one, portNumber: 0 })).rejects.toMatchObject({
      field: 'portNumber',
    });
    expect(port).toBeGreaterThan(0);
  });

  it('a train callback that throws rejects that actor with RemoteError; the trainer goes on', async () => {
    const server = await startServer({ dataTable: one }, (_t, payload) => {
      if ((payload as { bad?: boolean }).bad) throw new TypeError('cannot learn from this batch');
      return 'learned';
    });
    const client = await connect(server);
    const err = await client.trainStep('agent1', { bad: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).remoteName).toBe('TypeError');
    expect((err as RemoteError).message).toMatch(/cannot learn from this batch/);
    expect(await client.trainStep('agent1', { bad: false })).toBe('learned');
    expect(server.getData('agent1')).toEqual([{ bad: true }, { bad: false }]);
    expect(server.pendingTrainSteps).toBe(0);
  });

  it('a non-FIFO table refuses items when full (actor told, callback not run) until the learner takes some', async () => {
    let runs = 0;
    const server = await startServer({ dataTable: [{ name: 'episodes', size: 2, fifo: false }] }, () => ++runs);
    const client = await connect(server);
    await client.trainStep('episodes', 1);
    await client.trainStep('episodes', 2);
    await expect(client.trainStep('episodes', 3)).rejects.toBeInstanceOf(LimitError);
    expect(runs).toBe(2);
    expect(server.take('episodes', 1)).toEqual([1]);
    await client.trainStep('episodes', 4);
    expect(server.getData('episodes')).toEqual([2, 4]);
    expect(server.tableStats('episodes')).toMatchObject({ inserted: 3, rejected: 1, taken: 1, dropped: 0 });
  });

  it('waits for a minimum table size, samples uniformly, and ends waits on stop', async () => {
    const server = await startServer({ dataTable: [{ name: 'replay', size: 10 }] });
    const client = await connect(server);
    const ready = server.waitForSize('replay', 3);
    let resolved = false;
    void ready.then(() => {
      resolved = true;
    });
    await client.trainStep('replay', { i: 0 });
    await client.trainStep('replay', { i: 1 });
    expect(resolved).toBe(false);
    await client.trainStep('replay', { i: 2 });
    await within(ready, 2000, 'waitForSize');
    const drawn = server.sample('replay', 50);
    expect(drawn).toHaveLength(50);
    for (const d of drawn) expect([0, 1, 2]).toContain((d as { i: number }).i);
    const distinct = server.sample('replay', 5, { replace: false }).map((d) => (d as { i: number }).i);
    expect(distinct.sort()).toEqual([0, 1, 2]);
    expect(() => server.sample('nope', 1)).toThrow(NotFoundError);
    await expect(server.waitForSize('nope', 1)).rejects.toBeInstanceOf(NotFoundError);
    await expect(server.waitForSize('replay', 11)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(server.waitForSize('replay', 4, { timeoutMs: 20 })).rejects.toBeInstanceOf(TimeoutError);
    const pending = server.waitForSize('replay', 9);
    await server.stop();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
  });

  it('broadcasts versioned weights to every registered client; late joiners get the latest at once', async () => {
    const server = await startServer({ dataTable: one });
    expect(() => new TrainerServer({ dataTable: one }).publishWeights({})).toThrow(ClosedError);
    type W = { w: Float32Array; step: number };
    const received: { version: number; step: number }[][] = [[], [], []];
    const actors = await Promise.all([0, 1, 2].map(() => connect<W>(server)));
    actors.forEach((a, i) => {
      a.recvWeightsCallback((weights, { version }) => {
        received[i]!.push({ version, step: weights.step });
      });
    });
    // Weights published before a subscription completes still arrive (latest value resent on subscribe).
    expect(server.publishWeights({ w: new Float32Array([1, 2, 3]), step: 1 })).toBe(1);
    await waitFor(() => received.every((r) => r.length >= 1), 'first weights at every client');
    expect(server.publishWeights({ w: new Float32Array([4, 5, 6]), step: 2 })).toBe(2);
    await waitFor(() => received.every((r) => r.at(-1)?.version === 2), 'second weights at every client');
    for (const r of received)
      expect(r).toEqual([
        { version: 1, step: 1 },
        { version: 2, step: 2 },
      ]);
    expect(actors[0]!.weightsVersion).toBe(2);
    expect(actors[0]!.latestWeights()?.weights.w).toEqual(new Float32Array([4, 5, 6]));
    // A client that registers afterwards gets version 2 at once, through the seed's alias.
    const late = await connect<W>(server);
    const got: number[] = [];
    late.registerCallback((_w, { version }) => {
      got.push(version);
    });
    await waitFor(() => got.length === 1, 'latest weights at the late joiner');
    expect(got).toEqual([2]);
    expect((await late.waitForWeights(2, { timeoutMs: 5000 })).weights.step).toBe(2);
    // A second callback on a subscribed client also gets the latest at once.
    const again: number[] = [];
    late.recvWeightsCallback((_w, { version }) => {
      again.push(version);
    });
    await waitFor(() => again.length === 1, 'latest weights at a second callback');
    expect(server.weightsVersion).toBe(2);
  });

  it('a slow weights callback gets the newest weights next, never a backlog', async () => {
    const server = await startServer({ dataTable: one });
    const client = await connect(server);
    const seen: number[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    client.recvWeightsCallback(async (_w, { version }) => {
      seen.push(version);
      if (version === 1) await gate;
    });
    server.publishWeights({ v: 1 });
    await waitFor(() => seen.length === 1, 'the first weights');
    for (let v = 2; v <= 10; v++) server.publishWeights({ v });
    await waitFor(() => (client.weightsStats()?.received ?? 0) + (client.weightsStats()?.dropped ?? 0) >= 10, 'all 10');
    release();
    await waitFor(() => seen.includes(10), 'the newest weights');
    expect(seen).toEqual([1, 10]);
    expect(client.weightsVersion).toBe(10);
  });

  it('broadcasts 100 MB weights byte-exact to three clients', async () => {
    const server = await startServer({ dataTable: one });
    const actors = await Promise.all([0, 1, 2].map(() => connect<{ layer: Tensor }>(server)));
    const data = new Uint8Array(100 * 1024 * 1024);
    randomFillSync(data);
    const waits = actors.map((a) => a.waitForWeights(1, { timeoutMs: 25_000 }));
    // Publish once every subscription has reached the trainer, so the weights travel once per client (each later
    // subscription makes the publisher resend its latest value, which late joiners are tested with above).
    await waitFor(() => server.stats().weights.subscriptions >= 3, 'three subscriptions');
    expect(server.publishWeights({ layer: new Tensor('uint8', data, [100, 1024, 1024]) })).toBe(1);
    const got = await Promise.all(waits);
    for (const g of got) {
      expect(g.version).toBe(1);
      expect(g.weights.layer.shape).toEqual([100, 1024, 1024]);
      const bytes = g.weights.layer.bytes();
      const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      expect(view.equals(Buffer.from(data.buffer))).toBe(true);
    }
  });

  it('enforces rateLimit on the client: over-limit calls wait, calls past their deadline are refused unsent', async () => {
    const server = await startServer({ dataTable: [{ name: 'agent1', size: 10 }], rateLimit: 0.5 });
    const client = await connect(server);
    await client.trainStep('agent1', 1);
    // The next slot is 2 s away: a call with a 200 ms deadline is refused at once, nothing is sent.
    await expect(client.trainStep('agent1', 2, { timeoutMs: 200 })).rejects.toBeInstanceOf(LimitError);
    expect(server.getData('agent1')).toEqual([1]);
    // A call waiting for its slot can be aborted, or ended by close().
    const controller = new AbortController();
    const aborted = client.trainStep('agent1', 3, { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    const waiting = client.trainStep('agent1', 4);
    void client.close();
    await expect(waiting).rejects.toBeInstanceOf(ClosedError);
    expect(server.getData('agent1')).toEqual([1]);
  });

  it('lets calls within rateLimit through, in order', async () => {
    const server = await startServer({ dataTable: [{ name: 'agent1', size: 10 }], rateLimit: 50 });
    const client = await connect(server);
    for (let i = 0; i < 4; i++) await client.trainStep('agent1', i);
    expect(server.getData('agent1')).toEqual([0, 1, 2, 3]);
  });

  it('one flooding actor cannot take every pending slot from the others', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const server = await startServer({ dataTable: [{ name: 'flood', size: 100 }] }, async () => gate, undefined, {
      maxPendingTrainSteps: 8,
      maxPendingTrainStepsPerClient: 4,
    });
    const flooder = await connect(server);
    const polite = await connect(server);
    let refused = 0;
    const flood = Array.from({ length: 40 }, () =>
      flooder.trainStep('flood', { from: 'flooder' }).catch((e: unknown) => {
        if (!(e instanceof LimitError)) throw e;
        refused++;
      }),
    );
    await waitFor(() => refused === 36, "the flooder's steps beyond its share refused");
    expect(server.pendingTrainSteps).toBe(4);
    const step = polite.trainStep('flood', { from: 'polite' });
    await waitFor(() => server.pendingTrainSteps === 5, "the other actor's step accepted");
    release();
    await step;
    await Promise.all(flood);
    expect(server.getData('flood')?.filter((x) => (x as { from: string }).from === 'polite')).toHaveLength(1);
    expect(server.stats().busyRejections).toBe(36);
  });

  it('an actor flooding the trainer is told (LimitError), nothing grows without bound', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const server = await startServer({ dataTable: [{ name: 'flood', size: 50 }] }, async () => gate, undefined, {
      maxPendingTrainSteps: 8,
    });
    const client = await connect(server, { timeoutMs: 20_000 });
    const chunk = new Uint8Array(64 * 1024);
    const settled = { ok: 0, limit: 0, other: 0 };
    const calls = Array.from({ length: 400 }, () =>
      client.trainStep('flood', { chunk }).then(
        () => settled.ok++,
        (e: unknown) => (e instanceof LimitError ? settled.limit++ : settled.other++),
      ),
    );
    await waitFor(() => settled.limit === 392, '392 calls refused while 8 are pending', 20_000);
    expect(server.pendingTrainSteps).toBe(8);
    expect(server.stats().busyRejections).toBe(392);
    expect(server.tableStats('flood')?.size).toBe(8);
    release();
    await Promise.all(calls);
    expect(settled).toEqual({ ok: 8, limit: 392, other: 0 });
    expect(server.pendingTrainSteps).toBe(0);
    // A sustained flood of 128 MB through a 50-item table: the table stays at its size, memory stays bounded.
    const big = new Uint8Array(256 * 1024);
    const rssBefore = process.memoryUsage().rss;
    let maxPending = 0;
    for (let round = 0; round < 16; round++) {
      await Promise.allSettled(
        Array.from({ length: 32 }, () => {
          maxPending = Math.max(maxPending, server.pendingTrainSteps);
          return client.trainStep('flood', { big });
        }),
      );
      maxPending = Math.max(maxPending, server.pendingTrainSteps);
      expect(server.tableStats('flood')!.size).toBeLessThanOrEqual(50);
    }
    expect(maxPending).toBeLessThanOrEqual(8);
    expect(server.tableStats('flood')).toMatchObject({ size: 50, capacity: 50 });
    expect(server.tableStats('flood')!.dropped).toBeGreaterThan(0);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(400 * 1024 * 1024);
    expect(server.stats().inFlight).toBe(0);
    expect(await client.trainStep('flood', { after: true })).toBeUndefined();
  });
});

describe('actor–learner example', () => {
  it('ends by itself, printing progress, with the average return clearly improved', async () => {
    const script = fileURLToPath(new URL('../examples/actor-learner.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--seconds', '40'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    clients.push({ close: () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL') });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await within(
      new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))),
      55_000,
      'the example',
    );
    expect(code, out).toBe(0);
    expect(out).toMatch(/\[learner\] [\d.]+ s {2}episodes \d+ {2}avg return [\d.]+ {2}weights v\d+/);
    const m = /average return ([\d.]+) \(first 50\) -> ([\d.]+) \(last 50\), weights v(\d+)/.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(2 * Number(m![1]));
    expect(Number(m![3])).toBeGreaterThan(1);
  }, 60_000);
});
