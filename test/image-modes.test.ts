/**
 * Camera frames through the modes over real ZeroMQ sockets on loopback: an inference interface that declares the
 * image it wants, a client that resizes and encodes to it, servers and clients that decode on request, and an action
 * server that encodes its observation stream once for every subscriber.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cameraFrame } from '../bench/frames.js';
import {
  ActionClient,
  ActionServer,
  Image,
  InferenceClient,
  type InferenceClientOptions,
  InferenceServer,
  type InferenceServerOptions,
  InvalidArgumentError,
  isImage,
  LimitError,
  ProtocolError,
  Tensor,
} from '../src/index.js';
import { HOST, waitFor } from './helpers.js';
import { JPEG_3X2, PNG_3X2 } from './vectors/images.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function serve(setup: (s: InferenceServer) => void, options: Partial<InferenceServerOptions> = {}) {
  const server = new InferenceServer({ listen: `tcp://${HOST}:0`, ...options });
  setup(server);
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

async function connect(server: InferenceServer, options: InferenceClientOptions = {}): Promise<InferenceClient> {
  const client = await InferenceClient.connect(`tcp://${HOST}:${server.port}`, options);
  cleanups.push(() => client.close());
  return client;
}

const SPEC = { image: { width: 224, height: 224, format: 'jpeg', quality: 80 } } as const;

describe('inference: the server says what it wants', () => {
  it("resizes and encodes the tensor under 'image' to the declared size with resize: 'server', end to end", async () => {
    const seen: unknown[] = [];
    const server = await serve((s) =>
      s.registerInterface(
        'detect',
        (p) => {
          seen.push(p);
          return { ok: true };
        },
        { input: SPEC },
      ),
    );
    const client = await connect(server, { resize: 'server' });
    expect(await client.describe()).toEqual({ detect: { input: SPEC } });
    const depth = new Tensor('uint8', new Uint8Array(480 * 640), [480, 640, 1]);
    expect(await client.call('detect', { image: cameraFrame(2), depth })).toEqual({ ok: true });
    const got = seen[0] as { image: Image; depth: Tensor };
    expect(isImage(got.image)).toBe(true);
    expect([got.image.format, got.image.width, got.image.height, got.image.channels]).toEqual(['jpeg', 224, 224, 3]);
    expect(got.image.bytes.byteLength).toBeLessThan(20_000);
    expect(got.depth.shape).toEqual([480, 640, 1]); // a key the interface did not name travels raw
    const pixels = await got.image.decode();
    expect(pixels.shape).toEqual([224, 224, 3]);
    // The description was fetched once for both calls.
    await client.call('detect', { image: cameraFrame(3), depth });
    expect(server.stats().methods.describe?.calls).toBe(2); // the explicit describe() above, and one for the calls
  });

  it('gives the handler tensors with decodeImages, and a client without resize sends raw tensors', async () => {
    const shapes: unknown[] = [];
    const server = await serve(
      (s) =>
        s.registerInterface(
          'detect',
          (p) => {
            const { image } = p as { image: Tensor };
            shapes.push([image.constructor.name, ...image.shape]);
            return image.shape;
          },
          { input: SPEC },
        ),
      { decodeImages: true },
    );
    const resizing = await connect(server, { resize: 'server' });
    const plain = await connect(server);
    await resizing.call('detect', { image: cameraFrame(1) });
    await plain.call('detect', { image: cameraFrame(1) });
    expect(shapes).toEqual([
      ['Tensor', 224, 224, 3],
      ['Tensor', 480, 640, 3],
    ]);
  });

  it('decodes images in replies with the client option decodeImages', async () => {
    const server = await serve((s) => s.registerInterface('snap', async () => ({ frame: await cameraFrameImage() })));
    const raw = (await (await connect(server)).call('snap')) as { frame: unknown };
    expect(isImage(raw.frame)).toBe(true);
    const decoded = (await (await connect(server, { decodeImages: true })).call('snap')) as { frame: Tensor };
    expect(decoded.frame.shape).toEqual([480, 640, 3]);
  });

  it('answers a decompression bomb with LimitError and corrupt data with ProtocolError, and goes on serving', async () => {
    const server = await serve((s) => s.registerInterface('detect', (p) => (p as { image: Tensor }).image.shape), {
      decodeImages: true,
    });
    const client = await connect(server);
    const bomb = PNG_3X2.slice();
    new DataView(bomb.buffer).setUint32(16, 100_000);
    new DataView(bomb.buffer).setUint32(20, 100_000);
    const rss = process.memoryUsage().rss;
    await expect(client.call('detect', { image: new Image(bomb) })).rejects.toBeInstanceOf(LimitError);
    const cut = new Image(JPEG_3X2.subarray(0, JPEG_3X2.length - 40));
    await expect(client.call('detect', { image: cut })).rejects.toBeInstanceOf(ProtocolError);
    expect(await client.call('detect', { image: new Image(JPEG_3X2) })).toEqual([2, 3, 3]);
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024);
  });

  it("sends payloads unchanged to a server without describe (before edgeml 0.3) under resize: 'server'", async () => {
    const seen: unknown[] = [];
    const server = await serve((s) =>
      s.registerInterface('detect', (p) => {
        seen.push((p as { image: unknown }).image);
        return null;
      }),
    );
    // What an older server answers for a method it does not know.
    const rpc = (server as unknown as { rpc: { handle(m: string, fn: () => never): void } }).rpc;
    rpc.handle('describe', () => {
      throw new InvalidArgumentError('method', 'unknown method "describe"');
    });
    const client = await connect(server, { resize: 'server' });
    await client.call('detect', { image: cameraFrame(1) });
    await client.call('detect', { image: cameraFrame(2) });
    expect(seen.map((v) => (v as Tensor).shape)).toEqual([
      [480, 640, 3],
      [480, 640, 3],
    ]);
    expect(server.stats().methods.describe?.calls).toBe(1); // asked once, not before every call
  });

  it('checks the input spec at registration', async () => {
    const server = new InferenceServer({ listen: `tcp://${HOST}:0` });
    expect(() => server.registerInterface('x', () => 1, { input: { image: { width: 224 } } })).toThrow(
      InvalidArgumentError,
    );
    expect(() =>
      server.registerInterface('x', () => 1, { input: { image: { width: 2, height: 2, format: 'gif' as never } } }),
    ).toThrow(/format/);
  });
});

async function cameraFrameImage(): Promise<Image> {
  const { encodeImage } = await import('../src/index.js');
  return encodeImage(cameraFrame(4));
}

describe('action: encodeObs', () => {
  it('encodes the observation stream once for all subscribers; a client with decodeImages gets tensors', async () => {
    const server = new ActionServer(
      { portNumber: 0, broadcastPort: 0, actionKeys: ['move'], observationKeys: ['cam1', 'step'] },
      () => ({}),
      () => null,
      { host: HOST, encodeObs: { cam1: { format: 'jpeg', quality: 80 } } },
    );
    await server.start();
    cleanups.push(() => server.stop());
    const received: unknown[][] = [[], [], []];
    for (const [i, list] of received.entries()) {
      const client = await ActionClient.connect(HOST, server.config, { decodeImages: i === 2 });
      cleanups.push(() => client.close());
      client.registerObsCallback((o) => {
        list.push(o);
      });
    }
    await waitFor(async () => {
      server.publishObs({ cam1: cameraFrame(5), step: 1 });
      await new Promise((r) => setTimeout(r, 20));
      return received.every((l) => l.length > 0);
    }, 'an observation at both subscribers');
    const decoded = received[2]![0] as { cam1: Tensor };
    expect([decoded.cam1.constructor.name, ...decoded.cam1.shape]).toEqual(['Tensor', 480, 640, 3]);
    for (const list of received.slice(0, 2)) {
      const o = list[0] as { cam1: Image; step: number };
      expect(isImage(o.cam1)).toBe(true);
      expect(o.cam1.shape).toEqual([480, 640, 3]);
      expect(o.step).toBe(1);
    }
    const s = server.stats().obsEncoding!;
    expect(s.published).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
  });
});
