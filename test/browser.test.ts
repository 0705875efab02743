/**
 * `edgeml/browser` in Chromium (playwright-core, the system's /usr/bin/chromium): a page served by the test loads the
 * bundle and talks to servers in this process over ws://. Skipped when Chromium is not installed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBrowser } from '../scripts/build-browser.js';
import { ActionServer, InferenceServer, RemoteError, Tensor, TrainerServer } from '../src/index.js';
import { freePort, HOST, waitFor } from './helpers.js';

/** The page's globals and values, as the functions run in it see them (this project has no DOM types). */
// biome-ignore lint/suspicious/noExplicitAny: untyped by nature: whatever the page holds
type PageGlobals = any;

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];
const have = existsSync(CHROMIUM);
if (!have) console.warn(`browser tests skipped: ${CHROMIUM} is not installed`);

const PAGE = `<!doctype html><meta charset="utf-8"><title>edgeml</title>
<script type="module">import * as edgeml from '/edgeml.js'; window.edgeml = edgeml; window.ready = true;</script>`;

/**
 * A module Web Worker: takes `{ url, data }` (an ArrayBuffer transferred in), calls `echo` with it as a tensor, and
 * transfers the reply tensor's buffer back to the page with the view's place in it.
 */
const WORKER = `import { InferenceClient, Tensor } from '/edgeml.js';
onmessage = async (e) => {
  const { url, data } = e.data;
  const client = await InferenceClient.connect(url);
  const out = await client.call('echo', { t: new Tensor('uint8', new Uint8Array(data), [data.byteLength]) });
  await client.close();
  const v = out.t.data;
  postMessage({ buffer: v.buffer, offset: v.byteOffset, length: v.byteLength, dtype: out.t.dtype }, [v.buffer]);
};`;

/** Hex of a typed array's bytes, the same in Node and in the page. */
const HEX = `(a) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), (b) => b.toString(16).padStart(2, '0')).join('')`;

describe.skipIf(!have)('edgeml/browser in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let http: Server;
  let origin: string;
  const stops: (() => Promise<unknown>)[] = [];
  let inference: InferenceServer;
  let inferenceUrl: string;
  let inferencePort: number;

  async function startInference(port: number): Promise<InferenceServer> {
    const s = new InferenceServer({ listen: `ws://${HOST}:${port}/edgeml` });
    s.registerInterface('echo', (p) => p);
    s.registerInterface('fail', () => {
      throw new Error('the model is on fire');
    });
    await s.start();
    return s;
  }

  beforeAll(async () => {
    const bundle = await buildBrowser();
    const code = readFileSync(bundle.path);
    http = createServer((req, res) => {
      if (req.url === '/edgeml.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
      else if (req.url === '/worker.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(WORKER);
      else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    });
    await new Promise<void>((r) => http.listen(0, HOST, () => r()));
    origin = `http://${HOST}:${(http.address() as { port: number }).port}`;
    inferencePort = await freePort();
    inference = await startInference(inferencePort);
    inferenceUrl = `ws://${HOST}:${inferencePort}/edgeml`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (globalThis as PageGlobals).ready === true);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const s of stops) await s();
    await inference?.stop();
    await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
  });

  it('makes inference calls with tensors of several dtypes, byte-exact, viewed in place', async () => {
    const result = await page.evaluate(
      async ({ url, hex }) => {
        const { InferenceClient, Tensor } = (globalThis as PageGlobals).edgeml;
        const toHex = new Function(`return ${hex}`)();
        const client = await InferenceClient.connect(url);
        const inputs = {
          f32: new Tensor('float32', Float32Array.of(1.5, -2, Math.PI), [3]),
          f64: new Tensor('float64', Float64Array.of(1e-300, -0, 42.25, Number.NaN), [2, 2]),
          i64: new Tensor('int64', BigInt64Array.of(-(2n ** 62n), 7n), [2]),
          u8: new Tensor(
            'uint8',
            Uint8Array.from({ length: 224 * 224 * 3 }, (_, i) => i % 251),
            [224, 224, 3],
          ),
          f16: new Tensor('float16', Uint16Array.of(0x3c00, 0xc000), [2]),
          bool: new Tensor('bool', Uint8Array.of(1, 0, 1), [3]),
          i16: new Tensor('int16', Int16Array.of(-32768, 32767), [2]),
        };
        const out = await client.call('echo', inputs);
        const got: Record<string, unknown> = {};
        for (const [k, t] of Object.entries(out as Record<string, PageGlobals>)) {
          got[k] = {
            dtype: t.dtype,
            shape: t.shape,
            hex: toHex(t.data),
            ctor: t.data.constructor.name,
            // A view into the received message (no copy): its buffer is larger than the tensor.
            view: t.data.buffer.byteLength > t.data.byteLength,
            aligned: t.data.byteOffset % 8 === 0,
          };
        }
        await client.close();
        return got;
      },
      { url: inferenceUrl, hex: HEX },
    );
    const hex = (a: ArrayBufferView): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
    const expected: Record<string, [string, number[], ArrayBufferView, string]> = {
      f32: ['float32', [3], Float32Array.of(1.5, -2, Math.PI), 'Float32Array'],
      f64: ['float64', [2, 2], Float64Array.of(1e-300, -0, 42.25, Number.NaN), 'Float64Array'],
      i64: ['int64', [2], BigInt64Array.of(-(2n ** 62n), 7n), 'BigInt64Array'],
      u8: ['uint8', [224, 224, 3], Uint8Array.from({ length: 224 * 224 * 3 }, (_, i) => i % 251), 'Uint8Array'],
      f16: ['float16', [2], Uint16Array.of(0x3c00, 0xc000), 'Uint16Array'],
      bool: ['bool', [3], Uint8Array.of(1, 0, 1), 'Uint8Array'],
      i16: ['int16', [2], Int16Array.of(-32768, 32767), 'Int16Array'],
    };
    for (const [k, [dtype, shape, data, ctor]] of Object.entries(expected)) {
      expect(result[k]).toEqual({ dtype, shape, hex: hex(data), ctor, view: true, aligned: true });
    }
  });

  it('works in a Web Worker: a tensor goes to the worker and back to the page transferred, not copied', async () => {
    const r = await page.evaluate(async (url) => {
      const g = globalThis as PageGlobals;
      const worker = new g.Worker('/worker.js', { type: 'module' });
      const data = Uint8Array.from({ length: 224 * 224 * 3 }, (_, i) => (i * 7) % 256);
      const reply = new Promise<PageGlobals>((resolve, reject) => {
        worker.onmessage = (e: PageGlobals) => resolve(e.data);
        worker.onerror = (e: PageGlobals) => reject(new Error(e.message));
      });
      worker.postMessage({ url, data: data.buffer }, [data.buffer]);
      const detached = data.byteLength === 0; // transferred: the page no longer holds the bytes
      const got = await reply;
      worker.terminate();
      const view = new Uint8Array(got.buffer, got.offset, got.length);
      let same = view.length === 224 * 224 * 3;
      for (let i = 0; same && i < view.length; i++) same = view[i] === (i * 7) % 256;
      return { detached, same, dtype: got.dtype, inPlace: got.buffer.byteLength > got.length };
    }, inferenceUrl);
    // The reply's bytes came back as a view into the received message, whose buffer was moved to the page whole.
    expect(r).toEqual({ detached: true, same: true, dtype: 'uint8', inPlace: true });
  });

  it('gets a RemoteError in the page when the handler throws', async () => {
    const e = await page.evaluate(async (url) => {
      const { InferenceClient, RemoteError } = (globalThis as PageGlobals).edgeml;
      const client = await InferenceClient.connect(url);
      try {
        await client.call('fail', null);
        return 'no error';
      } catch (caught) {
        const err = caught as PageGlobals;
        return { name: err.name, isRemote: err instanceof RemoteError, message: err.message };
      } finally {
        await client.close();
      }
    }, inferenceUrl);
    expect(e).toMatchObject({ name: RemoteError.name, isRemote: true });
    expect((e as { message: string }).message).toContain('the model is on fire');
  });

  it('streams observations with latest-value semantics', async () => {
    const wsPort = await freePort();
    const server = new ActionServer(
      { portNumber: 0, broadcastPort: 0, observationKeys: ['cam'], actionKeys: ['move'] },
      () => ({ cam: -1 }),
      (_k, p) => p,
      { listen: [`tcp://${HOST}:0`, `ws://${HOST}:${wsPort}/edgeml`] },
    );
    await server.start();
    stops.push(() => server.stop());
    for (let v = 1; v <= 5; v++) server.publishObs({ cam: v });
    const config = {
      portNumber: server.port,
      broadcastPort: server.broadcastPort,
      observationKeys: ['cam'],
      actionKeys: ['move'],
    };
    await page.evaluate(
      async ({ url, config }) => {
        const { ActionClient } = (globalThis as PageGlobals).edgeml;
        const client = await ActionClient.connect(url, config);
        const w = globalThis as PageGlobals;
        w.obs = [];
        w.actClient = client;
        w.acted = await client.act('move', { dx: 1 });
        client.onObs((o: { cam: number }) => w.obs.push(o.cam));
      },
      { url: `ws://${HOST}:${wsPort}/edgeml`, config },
    );
    const obs = (): Promise<number[]> => page.evaluate(() => (globalThis as PageGlobals).obs);
    await waitFor(async () => (await obs()).length >= 1, 'the latest observation in the page');
    expect(await obs()).toEqual([5]);
    expect(await page.evaluate(() => (globalThis as PageGlobals).acted)).toEqual({ dx: 1 });
    server.publishObs({ cam: 6 });
    await waitFor(async () => (await obs()).at(-1) === 6, 'the next observation');
    expect(await obs()).toEqual([5, 6]);
    await page.evaluate(() => (globalThis as PageGlobals).actClient.close());
  });

  it('sends train steps and receives weights in the page', async () => {
    const wsPort = await freePort();
    const stored: unknown[] = [];
    const server = new TrainerServer(
      { dataTable: [{ name: 'agent', size: 8 }], portNumber: 0, broadcastPort: 0 },
      (_t, p) => {
        stored.push(p);
        return { stored: stored.length };
      },
      undefined,
      { listen: [`tcp://${HOST}:0`, `ws://${HOST}:${wsPort}/edgeml`] },
    );
    await server.start();
    stops.push(() => server.stop());
    const config = {
      dataTable: [{ name: 'agent', size: 8 }],
      portNumber: server.port,
      broadcastPort: server.broadcastPort,
    };
    const reply = await page.evaluate(
      async ({ url, config }) => {
        const { TrainerClient, Tensor } = (globalThis as PageGlobals).edgeml;
        const client = await TrainerClient.connect(url, config);
        const w = globalThis as PageGlobals;
        w.trainer = client;
        w.weights = [];
        client.onWeights((weights: { w: PageGlobals }, { version }: { version: number }) =>
          w.weights.push({ version, data: Array.from(weights.w.data), dtype: weights.w.dtype }),
        );
        return client.trainStep('agent', { obs: new Tensor('float32', Float32Array.of(0.5, 1), [2]), reward: 1 });
      },
      { url: `ws://${HOST}:${wsPort}/edgeml`, config },
    );
    expect(reply).toEqual({ stored: 1 });
    expect(stored).toHaveLength(1);
    const step = stored[0] as { obs: Tensor; reward: number };
    expect([...(step.obs.data as Float32Array)]).toEqual([0.5, 1]);
    server.publishWeights({ w: new Tensor('float32', Float32Array.of(3, 4), [2]) });
    const weights = (): Promise<unknown[]> => page.evaluate(() => (globalThis as PageGlobals).weights);
    await waitFor(async () => (await weights()).length === 1, 'the weights in the page');
    expect(await weights()).toEqual([{ version: 1, data: [3, 4], dtype: 'float32' }]);
    await page.evaluate(() => (globalThis as PageGlobals).trainer.close());
  });

  it('recovers by itself when the server restarts while the page is open', async () => {
    await page.evaluate(async (url) => {
      const { InferenceClient } = (globalThis as PageGlobals).edgeml;
      const w = globalThis as PageGlobals;
      w.statuses = [];
      w.client = await InferenceClient.connect(url, { onStatus: (s: string) => w.statuses.push(s) });
      return w.client.call('echo', 'before');
    }, inferenceUrl);
    await inference.stop();
    await waitFor(
      async () => (await page.evaluate(() => (globalThis as PageGlobals).statuses)).includes('disconnected'),
      'the page to see the server go',
    );
    inference = await startInference(inferencePort);
    const after = await page.evaluate(() =>
      (globalThis as PageGlobals).client.call('echo', 'after', { timeoutMs: 10_000 }),
    );
    expect(after).toBe('after');
    const statuses = (await page.evaluate(() => (globalThis as PageGlobals).statuses)) as string[];
    expect(statuses.lastIndexOf('connected')).toBeGreaterThan(statuses.indexOf('disconnected'));
    await page.evaluate(() => (globalThis as PageGlobals).client.close());
  });

  it('is refused with AuthenticationError for a wrong token, served with the right one', async () => {
    const wsPort = await freePort();
    const server = new InferenceServer({ listen: `ws://${HOST}:${wsPort}/edgeml`, ws: { tokens: ['page-token'] } });
    server.registerInterface('echo', (p) => p);
    await server.start();
    stops.push(() => server.stop());
    const out = await page.evaluate(async (url) => {
      const { InferenceClient, AuthenticationError } = (globalThis as PageGlobals).edgeml;
      const bad = new InferenceClient(url, { ws: { token: 'guess' } });
      const t = performance.now();
      const e = await bad.call('echo', 1).catch((x: unknown) => x);
      const refused = { auth: e instanceof AuthenticationError, status: bad.status, ms: performance.now() - t };
      await bad.close();
      const good = await InferenceClient.connect(url, { ws: { token: 'page-token' } });
      const ok = await good.call('echo', 'welcome');
      await good.close();
      return { refused, ok };
    }, `ws://${HOST}:${wsPort}/edgeml`);
    expect(out.refused).toMatchObject({ auth: true, status: 'unauthorized' });
    expect(out.refused.ms).toBeLessThan(2000);
    expect(out.ok).toBe('welcome');
  });
});
