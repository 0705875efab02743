/**
 * The three modes over WebSocket, alone and beside ZeroMQ on one server (`listen: ['tcp://…', 'ws://…']`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as WsClass } from 'ws';
import {
  ActionClient,
  ActionServer,
  InferenceClient,
  InferenceServer,
  Tensor,
  TrainerClient,
  TrainerServer,
} from '../src/index.js';
import { freePort, HOST, waitFor } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const KEYS = { observationKeys: ['cam'], actionKeys: ['move'] };

describe('modes over ws://', () => {
  it('inference on port 0 (the bound port read back) and beside tcp:// on one server', async () => {
    const alone = new InferenceServer({ listen: `ws://${HOST}:0/edgeml` });
    alone.registerInterface('echo', (p) => p);
    await alone.start();
    cleanups.push(() => alone.stop());
    expect(alone.port).toBeGreaterThan(0);
    const c0 = await InferenceClient.connect(`ws://${HOST}:${alone.port}/edgeml`);
    cleanups.push(() => c0.close());
    expect(await c0.call('echo', 'alone')).toBe('alone');

    const wsPort = await freePort();
    const both = new InferenceServer({ listen: [`tcp://${HOST}:0`, `ws://${HOST}:${wsPort}/edgeml`] });
    both.registerInterface('double', (p) => {
      const { x } = p as { x: Tensor };
      return {
        y: new Tensor(
          'float32',
          (x.data as Float32Array).map((v) => v * 2),
          x.shape,
        ),
      };
    });
    await both.start();
    cleanups.push(() => both.stop());
    const viaTcp = await InferenceClient.connect(`tcp://${HOST}:${both.port}`);
    const viaWs = await InferenceClient.connect(`ws://${HOST}:${wsPort}/edgeml`);
    cleanups.push(
      () => viaTcp.close(),
      () => viaWs.close(),
    );
    const x = new Tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]);
    for (const c of [viaTcp, viaWs]) {
      const { y } = (await c.call('double', { x })) as { y: Tensor };
      expect(y.shape).toEqual([2, 2]);
      expect([...(y.data as Float32Array)]).toEqual([2, 4, 6, 8]);
    }
    expect(both.stats().clients).toBe(2);
  });

  it('action: obs, act and the observation stream over ws beside tcp', async () => {
    const wsPort = await freePort();
    const server = new ActionServer(
      { portNumber: 0, broadcastPort: 0, ...KEYS },
      (keys) => Object.fromEntries(keys.map((k) => [k, 1])),
      (key, payload) => ({ key, payload }),
      { listen: [`tcp://${HOST}:0`, `ws://${HOST}:${wsPort}/edgeml`] },
    );
    await server.start();
    cleanups.push(() => server.stop());
    const client = await ActionClient.connect(`ws://${HOST}:${wsPort}/edgeml`, server.config);
    cleanups.push(() => client.close());
    expect(await client.obs()).toEqual({ cam: 1 });
    expect(await client.act('move', { dx: 1 })).toEqual({ key: 'move', payload: { dx: 1 } });
    const tcpClient = await ActionClient.connect(HOST, server.config);
    cleanups.push(() => tcpClient.close());
    const got: number[] = [];
    const gotTcp: number[] = [];
    client.onObs((o) => void got.push((o as { cam: number }).cam));
    tcpClient.onObs((o) => void gotTcp.push((o as { cam: number }).cam));
    server.publishObs({ cam: 7 });
    // Latest-value semantics: a subscriber that joins after the publish still gets 7.
    await waitFor(() => got.includes(7) && gotTcp.includes(7), 'the observation over both transports');
    server.publishObs({ cam: 8 });
    await waitFor(() => got.at(-1) === 8 && gotTcp.at(-1) === 8, 'the next observation');
  });

  it('trainer: trainStep and weights over ws beside tcp', async () => {
    const wsPort = await freePort();
    const server = new TrainerServer(
      { dataTable: [{ name: 'agent', size: 4 }], portNumber: 0, broadcastPort: 0 },
      () => ({ ok: true }),
      undefined,
      { listen: [`tcp://${HOST}:0`, `ws://${HOST}:${wsPort}/edgeml`] },
    );
    await server.start();
    cleanups.push(() => server.stop());
    const client = await TrainerClient.connect(`ws://${HOST}:${wsPort}/edgeml`, server.boundConfig);
    cleanups.push(() => client.close());
    expect(await client.trainStep('agent', { obs: [1, 2] })).toEqual({ ok: true });
    expect(server.getData('agent')).toEqual([{ obs: [1, 2] }]);
    const versions: number[] = [];
    client.onWeights((_w, { version }) => void versions.push(version));
    server.publishWeights({ w: new Tensor('float32', new Float32Array([1, 2]), [2]) });
    await waitFor(() => versions.length === 1, 'the weights');
  });

  // A trainer or streaming action server listening on ws:// alone binds its stream on its request port, and their
  // configs refuse a broadcastPort equal to portNumber: that needs a change in src/modes (not the transport's).
  it('trainer, and action server with a stream, listening on ws:// alone (the stream on the request connection)', async () => {
    const trainer = new TrainerServer(
      { portNumber: 0, broadcastPort: 0, dataTable: [{ name: 't', size: 10 }] },
      (_t, p) => ({ got: p }),
      undefined,
      { listen: `ws://${HOST}:0/edgeml` },
    );
    await trainer.start();
    cleanups.push(() => trainer.stop());
    const url = `ws://${HOST}:${trainer.port}/edgeml`;
    const actor = await TrainerClient.connect(url, trainer.boundConfig);
    cleanups.push(() => actor.close());
    expect(await actor.trainStep('t', 1)).toEqual({ got: 1 });
    trainer.publishWeights({ v: 'w1' });
    expect((await actor.waitForWeights(1, { timeoutMs: 5000 })).weights).toEqual({ v: 'w1' });

    const action = new ActionServer(
      { portNumber: 0, broadcastPort: 0, ...KEYS },
      () => ({ cam: 3 }),
      () => null,
      { listen: `ws://${HOST}:0/edgeml` },
    );
    await action.start();
    cleanups.push(() => action.stop());
    action.publishObs({ cam: 4 });
    const ac = await ActionClient.connect(`ws://${HOST}:${action.port}/edgeml`, action.config);
    cleanups.push(() => ac.close());
    expect(await ac.obs()).toEqual({ cam: 3 });
    const streamed: unknown[] = [];
    ac.onObs((o) => void streamed.push(o.cam));
    await waitFor(() => streamed.length === 1, 'the latest observation over the request connection');
    expect(streamed).toEqual([4]);
  });

  it('action server without a stream listening on ws:// alone, port 0', async () => {
    const action = new ActionServer(
      { portNumber: 0, ...KEYS },
      () => ({ cam: 2 }),
      () => null,
      { listen: `ws://${HOST}:0/edgeml` },
    );
    await action.start();
    cleanups.push(() => action.stop());
    const ac = await ActionClient.connect(`ws://${HOST}:${action.port}/edgeml`, action.config);
    cleanups.push(() => ac.close());
    expect(await ac.obs()).toEqual({ cam: 2 });
  });

  it('uses a WebSocket class given in the options (the browser path: ArrayBuffer messages, tensors in place)', async () => {
    const server = new InferenceServer({ listen: `ws://${HOST}:0/edgeml` });
    server.registerInterface('echo', (p) => p);
    await server.start();
    cleanups.push(() => server.stop());
    const client = await InferenceClient.connect(`ws://${HOST}:${server.port}/edgeml`, { ws: { WebSocket: WsClass } });
    cleanups.push(() => client.close());
    const x = new Tensor('float64', Float64Array.of(1, 2, 3), [3]);
    const y = (await client.call('echo', { x })) as { x: Tensor<'float64'> };
    expect([...y.x.data]).toEqual([1, 2, 3]);
    // Received as one ArrayBuffer per message: the tensor is a view into it, at an aligned offset.
    expect(y.x.data.buffer.byteLength).toBeGreaterThan(y.x.data.byteLength);
    expect(y.x.data.byteOffset % 8).toBe(0);
  });
});
