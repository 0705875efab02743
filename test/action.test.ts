/**
 * Action mode over real ZeroMQ sockets on ephemeral loopback ports: the seed's flow, camera-sized tensors, the config
 * handshake, unknown keys, callback errors, observation streaming (late joiners, slow subscribers) and many clients.
 */
import { randomFillSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { tcpEndpoint } from '../src/core/endpoint.js';
import {
  ActionClient,
  type ActionClientOptions,
  ActionConfig,
  type ActionConfigInit,
  ActionServer,
  ClosedError,
  ConfigMismatchError,
  type Delivery,
  InvalidArgumentError,
  type KeyedPayloads,
  NotFoundError,
  RemoteError,
  Tensor,
  TimeoutError,
} from '../src/index.js';
import { RpcClient } from '../src/messaging/rpc-client.js';
import { ZmqTransport } from '../src/zmq.js';
import { freePort, gate, HOST, waitFor, within } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const KEYS = { actionKeys: ['move', 'grip'], observationKeys: ['cam1', 'state', 'battery'] };

type Obs = Record<string, unknown>;

async function startServer(
  obsCallback: (keys: string[]) => Obs | Promise<Obs>,
  actCallback: (key: string, payload: unknown) => unknown = (key, payload) => ({ key, payload }),
  init: Partial<ActionConfigInit> = {},
): Promise<ActionServer> {
  const server = new ActionServer({ portNumber: 0, broadcastPort: 0, ...KEYS, ...init }, obsCallback, actCallback, {
    host: HOST,
  });
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

async function connect<O extends KeyedPayloads = KeyedPayloads>(
  server: ActionServer,
  changes: Partial<ActionConfigInit> = {},
  options: ActionClientOptions = {},
): Promise<ActionClient<O>> {
  const client = await ActionClient.connect<O>(HOST, server.config.with(changes), options);
  cleanups.push(() => client.close());
  return client;
}

function cameraFrame(): Tensor<'uint8'> {
  return new Tensor('uint8', randomFillSync(new Uint8Array(480 * 640 * 3)), [480, 640, 3]);
}

function expectSameTensor(got: unknown, want: Tensor<'uint8'>): void {
  expect(got).toBeInstanceOf(Tensor);
  const t = got as Tensor;
  expect(t.dtype).toBe('uint8');
  expect(t.shape).toEqual([480, 640, 3]);
  expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(want.data))).toBe(true);
}

describe('ActionConfig', () => {
  it('rejects bad fields with an InvalidArgumentError naming the field', () => {
    const bad: [Partial<ActionConfigInit>, string][] = [
      [{ portNumber: -1 }, 'portNumber'],
      [{ portNumber: 65536 }, 'portNumber'],
      [{ portNumber: 1.5 }, 'portNumber'],
      [{ portNumber: '80' as unknown as number }, 'portNumber'],
      [{ actionKeys: [] }, 'actionKeys'],
      [{ actionKeys: ['move', 'move'] }, 'actionKeys'],
      [{ actionKeys: [''] }, 'actionKeys'],
      [{ observationKeys: [3 as unknown as string] }, 'observationKeys'],
      [{ observationKeys: 'cam1' as unknown as string[] }, 'observationKeys'],
      [{ broadcastPort: 70000 }, 'broadcastPort'],
      [{ portNumber: 5555, broadcastPort: 5555 }, 'broadcastPort'],
      [{ version: {} as unknown as string }, 'version'],
    ];
    for (const [change, field] of bad) {
      const build = () => new ActionConfig({ portNumber: 5555, ...KEYS, ...change });
      expect(build, JSON.stringify(change)).toThrow(InvalidArgumentError);
      try {
        build();
      } catch (e) {
        expect((e as InvalidArgumentError).field).toBe(field);
      }
    }
  });

  it('has a canonical form independent of key order, without the request port', () => {
    const a = new ActionConfig({ portNumber: 5555, actionKeys: ['b', 'a'], observationKeys: ['y', 'x'], version: 2 });
    const b = new ActionConfig({ portNumber: 6000, actionKeys: ['a', 'b'], observationKeys: ['x', 'y'], version: 2 });
    expect(a.canonical()).toEqual({ actionKeys: ['a', 'b'], observationKeys: ['x', 'y'], version: 2 });
    expect(b.canonical()).toEqual(a.canonical());
    expect(a.actionKeys).toEqual(['b', 'a']);
    expect(ActionConfig.from(a)).toBe(a);
  });

  it('is accepted as a plain object by servers and clients, which validate it too', () => {
    expect(
      () =>
        new ActionServer(
          { portNumber: 0, ...KEYS, actionKeys: [] },
          () => ({}),
          () => null,
        ),
    ).toThrow(InvalidArgumentError);
    expect(() => new ActionClient(HOST, { portNumber: 0, ...KEYS })).toThrow(/portNumber/);
  });
});

describe('ActionServer and ActionClient', () => {
  it('runs the seed flow: obs with and without keys, act, the seed spellings', async () => {
    const asked: string[][] = [];
    const server = await startServer(
      (keys) => {
        asked.push(keys);
        return Object.fromEntries(keys.map((k) => [k, `value of ${k}`]));
      },
      (key, payload) => ({ status: 'received', key, payload }),
    );
    const client = await connect(server);
    expect(await client.obs()).toEqual({ cam1: 'value of cam1', state: 'value of state', battery: 'value of battery' });
    expect(await client.obs(['battery'])).toEqual({ battery: 'value of battery' });
    expect(await client.getObservation(['cam1', 'state'])).toEqual({ cam1: 'value of cam1', state: 'value of state' });
    expect(asked).toEqual([['cam1', 'state', 'battery'], ['battery'], ['cam1', 'state']]);
    expect(await client.act('move', { dx: 1.5, dy: -2 })).toEqual({
      status: 'received',
      key: 'move',
      payload: { dx: 1.5, dy: -2 },
    });
    expect(await client.act('grip')).toEqual({ status: 'received', key: 'grip' });
    expect(await client.sendAction('grip', [1, 2])).toEqual({ status: 'received', key: 'grip', payload: [1, 2] });
    // With two action keys the one-argument spelling cannot guess.
    await expect(client.sendAction({ dx: 1 })).rejects.toThrow(InvalidArgumentError);
    // The ping really crossed the wire: the server answered exactly one more ping, and the time is a real duration.
    const pingsBefore = server.stats().methods.ping?.calls ?? 0;
    const rtt = await client.ping();
    expect(server.stats().methods.ping?.calls).toBe(pingsBefore + 1);
    expect(Number.isFinite(rtt)).toBe(true);
    expect(rtt).toBeGreaterThan(0);
  });

  it('sendAction(payload) goes to the only action key', async () => {
    const got: [string, unknown][] = [];
    const server = await startServer(
      () => ({}),
      (key, payload) => {
        got.push([key, payload]);
        return 'ok';
      },
      { actionKeys: ['move'] },
    );
    const client = await connect(server);
    expect(await client.sendAction({ dx: 3 })).toBe('ok');
    expect(got).toEqual([['move', { dx: 3 }]]);
  });

  it('carries camera-sized tensors byte-exact in observations, actions and the stream', async () => {
    const frame = cameraFrame();
    let received: unknown;
    const server = await startServer(
      () => ({ cam1: frame, state: new Float32Array([1, 2, 3, 4, 5, 6, 7]) }),
      (_key, payload) => {
        received = payload;
        return (payload as { image: Tensor }).image.shape;
      },
    );
    const client = await connect(server);
    const obs = await client.obs(['cam1', 'state']);
    expectSameTensor(obs.cam1, frame);
    expect(obs.state).toEqual(new Float32Array([1, 2, 3, 4, 5, 6, 7]));

    const image = cameraFrame();
    expect(await client.act('move', { image })).toEqual([480, 640, 3]);
    expectSameTensor((received as { image: unknown }).image, image);

    const streamed = cameraFrame();
    const frames: Obs[] = [];
    server.publishObs({ cam1: streamed });
    client.registerObsCallback((o) => {
      frames.push(o);
    });
    await waitFor(() => frames.length > 0, 'the streamed frame');
    expectSameTensor(frames[0]?.cam1, streamed);
  });

  it('rejects a client whose config differs, naming the fields; key order does not matter', async () => {
    const server = await startServer(() => ({}), undefined, { version: '1.0' });
    const err = await ActionClient.connect(HOST, server.config.with({ actionKeys: ['move'], version: '2.0' }), {
      connectTimeoutMs: 5000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigMismatchError);
    expect((err as ConfigMismatchError).fields).toEqual(['actionKeys', 'version']);
    expect((err as Error).message).toContain('actionKeys');

    const noStream = await connect(server, { observationKeys: ['battery', 'cam1', 'state'] }).then(
      () => 'connected',
      (e: unknown) => e,
    );
    expect(noStream).toBe('connected');

    const lazy = new ActionClient(HOST, server.config.with({ broadcastPort: undefined }));
    cleanups.push(() => lazy.close());
    const lazyErr = await lazy.obs().catch((e: unknown) => e);
    expect(lazyErr).toBeInstanceOf(ConfigMismatchError);
    expect((lazyErr as ConfigMismatchError).fields).toEqual(['broadcastPort']);
  });

  it('a client built with new does the handshake on first use', async () => {
    const server = await startServer((keys) => ({ n: keys.length }));
    const client = new ActionClient(HOST, server.config);
    cleanups.push(() => client.close());
    expect(await client.obs()).toEqual({ n: 3 });
    expect(await client.act('move', 1)).toEqual({ key: 'move', payload: 1 });
  });

  it('connect rejects with a TimeoutError when no server answers', async () => {
    const port = await freePort();
    const err = await within(
      ActionClient.connect(HOST, { portNumber: port, ...KEYS }, { connectTimeoutMs: 300 }).catch((e: unknown) => e),
      5000,
      'connect',
    );
    expect(err).toBeInstanceOf(TimeoutError);
  });

  it('rejects unknown keys locally before sending, and on the server when a raw client sends them', async () => {
    let calls = 0;
    const server = await startServer(
      () => {
        calls++;
        return {};
      },
      () => {
        calls++;
        return null;
      },
    );
    const client = await connect(server);
    const before = server.stats().bytesIn;
    await expect(client.obs(['cam1', 'lidar'])).rejects.toThrow(NotFoundError);
    await expect(client.act('jump', 1)).rejects.toThrow(NotFoundError);
    const notArray = await client.obs('cam1' as unknown as string[]).catch((e: unknown) => e);
    expect(notArray).toBeInstanceOf(InvalidArgumentError);
    expect((notArray as InvalidArgumentError).field).toBe('keys');
    expect(server.stats().bytesIn).toBe(before);

    const raw = new RpcClient(new ZmqTransport(), tcpEndpoint(HOST, server.port));
    cleanups.push(() => raw.close());
    const obsErr = await raw.call('obs', undefined, { keys: ['lidar'] }).catch((e: unknown) => e);
    expect(obsErr).toBeInstanceOf(NotFoundError);
    expect((obsErr as Error).message).toContain('lidar');
    await expect(raw.call('act', 'jump', null)).rejects.toThrow(NotFoundError);
    await expect(raw.call('act', undefined, null)).rejects.toThrow(NotFoundError);
    expect(calls).toBe(0);
    expect(await client.obs(['state'])).toEqual({});
  });

  it('gives the client a RemoteError when a callback throws, and goes on serving', async () => {
    let fail = true;
    const server = await startServer(
      () => {
        if (fail) throw new TypeError('camera unplugged');
        return { ok: true };
      },
      async () => {
        throw new RangeError('joint limit');
      },
    );
    const client = await connect(server);
    const err = await client.obs().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).remoteName).toBe('TypeError');
    expect((err as Error).message).toContain('camera unplugged');
    const actErr = await client.act('move', 1).catch((e: unknown) => e);
    expect((actErr as RemoteError).remoteName).toBe('RangeError');
    fail = false;
    expect(await client.obs()).toEqual({ ok: true });
  });

  it('publishes to several clients; a late joiner gets the latest observation first', async () => {
    const server = await startServer(() => ({}));
    const clients = await Promise.all([
      connect<{ i: number }>(server),
      connect<{ i: number }>(server),
      connect<{ i: number }>(server),
    ]);
    const got: number[][] = clients.map(() => []);
    server.publishObs({ i: 1 });
    server.publishObs({ i: 2 });
    clients.forEach((c, n) => {
      c.registerObsCallback((o: { i: number }) => {
        got[n]?.push(o.i);
      });
    });
    // Every subscriber gets the latest (2) on subscribing, never the older 1.
    await waitFor(() => got.every((g) => g.length === 1), 'the latest observation at every client');
    expect(got).toEqual([[2], [2], [2]]);
    server.publishObs({ i: 3 });
    await waitFor(() => got.every((g) => g.length === 2), 'the next observation at every client');
    expect(got).toEqual([
      [2, 3],
      [2, 3],
      [2, 3],
    ]);
    expect(server.stats().stream?.published).toBe(3);
  });

  it('a slow subscriber gets the newest observations and counts the dropped ones', async () => {
    const server = await startServer(() => ({}));
    const client = await connect<{ i: number }>(server);
    const seen: number[] = [];
    const hold = gate();
    server.publishObs({ i: 1 });
    client.registerObsCallback(
      async (o: { i: number }) => {
        seen.push(o.i);
        if (o.i === 1) await hold.promise;
      },
      { queueSize: 2 },
    );
    await waitFor(() => seen.length === 1, 'the first observation');
    // Paced by arrival (a burst larger than the socket's high-water mark would be cut by ZeroMQ instead).
    for (let i = 2; i <= 20; i++) {
      server.publishObs({ i });
      await waitFor(() => client.latestObs()?.payload.i === i, `observation ${i} to arrive`);
    }
    hold.open();
    await waitFor(() => seen.at(-1) === 20, 'the newest observation delivered');
    // The callback was held at 1 while 2..20 arrived: its queue kept the newest queueSize (2), 19 and 20; 2..18
    // were dropped and counted.
    expect(seen).toEqual([1, 19, 20]);
    const stats = client.streamStats();
    expect(stats.delivered).toBe(3);
    expect(stats.dropped).toBe(17);
    expect(stats.delivered + stats.dropped).toBe(20);
  });

  it('serves four clients at once without mixing up replies', async () => {
    const server = await startServer(
      (keys) => ({ keys }),
      async (key, payload) => ({ key, echo: payload }),
    );
    const clients = await Promise.all([0, 1, 2, 3].map(() => connect(server)));
    await Promise.all(
      clients.map(async (c, n) => {
        for (let i = 0; i < 20; i++) {
          const p = { client: n, i, data: new Float32Array([n, i]) };
          expect(await c.act(i % 2 ? 'move' : 'grip', p)).toEqual({ key: i % 2 ? 'move' : 'grip', echo: p });
          expect(await c.obs(['state'])).toEqual({ keys: ['state'] });
        }
      }),
    );
    expect(server.stats().errors).toBe(0);
  });

  it('publishObs returns false without a broadcastPort, and streaming needs one', async () => {
    const server = await startServer(() => ({}), undefined, { broadcastPort: undefined });
    expect(server.broadcastPort).toBeUndefined();
    expect(server.publishObs({ x: 1 })).toBe(false);
    expect(server.stats().stream).toBeUndefined();
    const client = await connect(server);
    expect(() => client.registerObsCallback(() => {})).toThrow(InvalidArgumentError);

    const notStarted = new ActionServer(
      { portNumber: 0, broadcastPort: 0, ...KEYS },
      () => ({}),
      () => null,
    );
    expect(() => notStarted.publishObs({ x: 1 })).toThrow(ClosedError);
  });

  it('stream callback errors do not stop the stream', async () => {
    const server = await startServer(() => ({}));
    const client = await connect<{ i: number }>(server);
    const errors: unknown[] = [];
    const seen: number[] = [];
    server.publishObs({ i: 1 });
    client.registerObsCallback(
      (o: { i: number }, d: Delivery<{ i: number }>) => {
        seen.push(d.seq);
        if (o.i === 1) throw new Error('bad frame');
      },
      { onError: (e) => errors.push(e) },
    );
    await waitFor(() => errors.length === 1, 'the callback error');
    server.publishObs({ i: 2 });
    await waitFor(() => seen.length === 2, 'the next observation');
    expect(seen).toEqual([1, 2]);
    expect(client.streamStats().callbackErrors).toBe(1);
  });

  it('calls after close reject with a ClosedError', async () => {
    const server = await startServer(() => ({}));
    const client = await connect(server);
    await client.close();
    await expect(client.obs()).rejects.toThrow(ClosedError);
  });
});
