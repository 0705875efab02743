/**
 * Case set "browser": round trips from a page in headless Chromium (playwright-core, the system's `/usr/bin/chromium`
 * or `$CHROMIUM`) to Node, for img224 and cams4: edgeml's browser client (`edgeml/browser`, the bundle of
 * `npm run build:browser`, built first) calling the `ws://` echo server, against the floor of the same bytes from the
 * same page: the browser's own `WebSocket` sending the exact message edgeml sends for the call (encoded once in Node)
 * to the raw `ws` echo. Both servers are the request/reply servers' (servers.ts: a child process unless
 * `--in-process`); the page runs the round trips in batches, the two targets taking turns, and the ratio is the median
 * over rounds of edgeml's batch median over the floor's. Skipped, with a line saying so, without Chromium.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encodeWsMessage, WsKind } from '../src/transport/ws/framing.js';
import { encodeRequest } from '../src/wire/envelopes.js';
import type { Budget, ResultRow } from './measure.js';
import { summarise } from './measure.js';
import { type CaseName, makeCase } from './payloads.js';
import { HOST } from './target-edgeml.js';
import { WS_PATH } from './websocket.js';

/** Payload cases of the set. */
export const BROWSER_CASES: readonly CaseName[] = ['img224', 'cams4'];

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** Each batch aims at about this long, so the targets alternate several times a second. */
const BATCH_MS = 40;

/** Options of the set. */
export interface BrowserOptions {
  budget: Budget;
  ports: { edgemlWs: number; rawWs: number };
  progress?: (line: string) => void;
}

/**
 * The page: loads the bundle, then `setup` connects both clients, `prepare` builds a case's payload (the structure of
 * payloads.ts, tensors of the same shapes) and fetches its pre-encoded raw message, `batch` times `n` round trips.
 */
const PAGE = `<!doctype html><meta charset="utf-8"><title>edgeml bench</title>
<script type="module">
import { InferenceClient, Tensor } from '/edgeml.js';
let client, socket, waiting, payload, raw;
const bytes = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) % 251);
const image = (h, w) => new Tensor('uint8', bytes(h * w * 3), [h, w, 3]);
const state = () => new Tensor('float32', Float32Array.of(0.1, -0.2, 0.3, 0.04, 1.5, -2.25, 3), [7]);
window.setup = async (edgemlUrl, rawUrl) => {
  client = await InferenceClient.connect(edgemlUrl, { timeoutMs: 60000 });
  socket = new WebSocket(rawUrl);
  socket.binaryType = 'arraybuffer';
  socket.onmessage = () => { const w = waiting; waiting = undefined; w?.(); };
  await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
};
window.prepare = async (name) => {
  payload = name === 'img224'
    ? { image: image(224, 224), state: state() }
    : { cams: [1, 2, 3, 4].map(() => image(480, 640)), state: state() };
  raw = new Uint8Array(await (await fetch('/raw/' + name)).arrayBuffer());
  const back = await client.call('echo', payload);
  const n = name === 'img224' ? back.image.data.byteLength : back.cams.reduce((s, t) => s + t.data.byteLength, 0);
  return n;
};
window.batch = async (target, n) => {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    if (target === 'edgeml-browser') await client.call('echo', payload);
    else await new Promise((resolve) => { waiting = resolve; socket.send(raw); });
    ms.push(performance.now() - t);
  }
  return ms;
};
// The page's own image codecs on one 480x640 frame (gradients and noise, like bench/frames.ts): JPEG q80 encoding
// with OffscreenCanvas.convertToBlob, decoding with createImageBitmap and with WebCodecs' ImageDecoder.
window.codecs = async (n) => {
  const canvas = new OffscreenCanvas(640, 480);
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(640, 480);
  let x = 1;
  for (let i = 0; i < img.data.length; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const p = i / 4, r = Math.floor(p / 640), c = p % 640, noise = (x & 15) - 8;
    img.data[i] = (r / 2 + noise) & 255; img.data[i + 1] = (c / 3 + noise) & 255;
    img.data[i + 2] = ((r + c) / 4 + ((r >> 5) % 2) * 80) & 255; img.data[i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const encode = [], bitmap = [], decoder = [];
  let blob;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.8 });
    encode.push(performance.now() - t);
  }
  const bytes = new Uint8Array(await blob.arrayBuffer());
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const b = await createImageBitmap(blob);
    bitmap.push(performance.now() - t);
    b.close();
  }
  if (typeof ImageDecoder === 'function') {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const d = new ImageDecoder({ data: bytes, type: 'image/jpeg' });
      const { image } = await d.decode();
      decoder.push(performance.now() - t);
      image.close(); d.close();
    }
  }
  return { encode, bitmap, decoder, bytes: bytes.byteLength };
};
window.ready = true;
</script>`;

// The page's globals, as the functions evaluated in it see them (this project has no DOM types). Those functions
// run in the page, so they name `globalThis` themselves rather than a helper of this module.
type PageWindow = {
  ready?: boolean;
  setup(edgemlUrl: string, rawUrl: string): Promise<void>;
  prepare(name: string): Promise<number>;
  batch(target: string, n: number): Promise<number[]>;
  codecs(n: number): Promise<{ encode: number[]; bitmap: number[]; decoder: number[]; bytes: number }>;
};

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

/** Runs the set: one row per target and case, the edgeml rows with their paired ratio to the floor. */
export async function runBrowser(options: BrowserOptions): Promise<ResultRow[]> {
  const progress = options.progress ?? (() => undefined);
  if (!existsSync(CHROMIUM)) {
    progress(`browser: skipped, no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
    return [];
  }
  const built = spawnSync(process.execPath, ['--import', 'tsx', join('scripts', 'build-browser.ts')], {
    cwd: process.cwd(),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (built.status !== 0) throw new Error('browser: npm run build:browser failed');
  const code = readFileSync(join(process.cwd(), 'dist', 'browser', 'edgeml.js'));
  const raws = new Map<string, Uint8Array>();
  for (const name of BROWSER_CASES) {
    raws.set(name, encodeWsMessage(WsKind.message, encodeRequest(1, 'call', 'echo', makeCase(name).payload)));
  }
  const http = createServer((req, res) => {
    const raw = req.url?.startsWith('/raw/') ? raws.get(req.url.slice(5)) : undefined;
    if (req.url === '/edgeml.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
    else if (raw) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(raw);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  await new Promise<void>((r) => http.listen(0, HOST, () => r()));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const rows: ResultRow[] = [];
  try {
    const page = await browser.newPage();
    await page.goto(`http://${HOST}:${(http.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => (globalThis as unknown as PageWindow).ready === true);
    await page.evaluate(
      ([e, r]) => (globalThis as unknown as PageWindow).setup(e!, r!),
      [`ws://${HOST}:${options.ports.edgemlWs}${WS_PATH}`, `ws://${HOST}:${options.ports.rawWs}`],
    );
    const seconds = options.budget.kind === 'seconds' ? options.budget.seconds : 3;
    const targets = ['edgeml-browser', 'raw-browser-ws'];
    for (const name of BROWSER_CASES) {
      progress(`browser ${name}: edgeml-browser, raw-browser-ws ...`);
      const c = makeCase(name);
      const echoed = await page.evaluate((n) => (globalThis as unknown as PageWindow).prepare(n), name);
      if (echoed !== (name === 'img224' ? 224 * 224 * 3 : 4 * 480 * 640 * 3)) {
        throw new Error(`browser: the echo of ${name} came back wrong (${echoed} bytes)`);
      }
      // Warm-up, and the batch size from its pace.
      let perTrip = 0;
      for (const t of targets) {
        const ms = await page.evaluate(
          ([tt, n]) => (globalThis as unknown as PageWindow).batch(tt as string, n as number),
          [t, 10],
        );
        perTrip = Math.max(perTrip, median(ms));
      }
      const n = Math.max(1, Math.round(BATCH_MS / Math.max(perTrip, 0.05)));
      const samples = new Map<string, number[]>(targets.map((t) => [t, []]));
      const ratios: number[] = [];
      const deadline = performance.now() + seconds * 2 * 1000;
      for (let round = 0; performance.now() < deadline || round < 4; round++) {
        const order = round % 2 === 0 ? targets : [...targets].reverse();
        const medians = new Map<string, number>();
        for (const t of order) {
          const ms = await page.evaluate(
            ([tt, k]) => (globalThis as unknown as PageWindow).batch(tt as string, k as number),
            [t, n],
          );
          samples.get(t)!.push(...ms);
          medians.set(t, median(ms));
        }
        ratios.push(medians.get('edgeml-browser')! / medians.get('raw-browser-ws')!);
      }
      const bytes = raws.get(name)!.byteLength;
      const floor = median(samples.get('raw-browser-ws')!);
      for (const t of targets) {
        const s = summarise(t, samples.get(t)!, bytes);
        rows.push({
          set: 'browser',
          case: name,
          description: `${c.description}, Chromium to Node`,
          bytes,
          ...s,
          ratioToRaw: t === 'edgeml-browser' ? median(ratios) : 1,
          extra: { p50Ratio: s.p50 / floor, floor: "the page's WebSocket sending the same bytes to a raw ws echo" },
        });
      }
    }
    progress('browser codecs: convertToBlob, createImageBitmap, ImageDecoder ...');
    await page.evaluate(() => (globalThis as unknown as PageWindow).codecs(5)); // warm-up
    const codecs = await page.evaluate(() => (globalThis as unknown as PageWindow).codecs(40));
    const codecRows: [string, string, number[]][] = [
      ['encode 480x640 q80', 'OffscreenCanvas.convertToBlob', codecs.encode],
      ['decode 480x640', 'createImageBitmap', codecs.bitmap],
      ['decode 480x640', 'ImageDecoder (WebCodecs)', codecs.decoder],
    ];
    for (const [name, target, ms] of codecRows) {
      if (ms.length === 0) continue;
      rows.push({
        set: 'browser-codecs',
        case: name,
        description: 'one 480x640 RGB frame in the page, JPEG quality 80',
        bytes: codecs.bytes,
        ...summarise(target, ms, codecs.bytes, 1),
      });
    }
  } finally {
    await browser.close();
    await new Promise<void>((r) => http.close(() => r()));
  }
  return rows;
}
