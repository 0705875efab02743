/**
 * The browser example (`edgeml example --browser`) end to end: its server in a child process, its page in Chromium
 * with a fake camera that films a photo of people (a sample image of `@vladmandic/face-api`, as a Motion JPEG file):
 * frames reach the face detector, boxes come back and are drawn, observations and weights arrive; a screenshot of the
 * page is saved to `.tmp/artifacts/browser-example.png`. Skipped when Chromium is not installed.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { startFixture } from './faults/child.js';
import { freePort, waitFor } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
const ARTIFACT = join(import.meta.dirname, '..', '.tmp', 'artifacts', 'browser-example.png');

/** A Motion JPEG file (JPEG frames back to back, what Chromium's fake camera plays) of a photo with faces, 640x480. */
async function camera(): Promise<string> {
  const faceApi = dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'));
  const frame = await sharp(join(faceApi, 'demo', 'sample1.jpg'))
    .resize(640, 480, { fit: 'cover' })
    .jpeg({ quality: 85 })
    .toBuffer();
  const file = join(tmpdir(), `edgeml-camera-${process.pid}.mjpeg`);
  writeFileSync(file, Buffer.concat(Array.from({ length: 30 }, () => frame)));
  return file;
}

/** What the example page counts (`window.edgemlExample`). */
interface Counters {
  frames: number;
  faces: number;
  obs: number;
  weights: number;
  errors: string[];
  /** Bytes of the last JPEG-encoded frame the page sent. */
  jpegBytes?: number;
}

describe.skipIf(!have)('the browser example', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const f of cleanups.reverse()) await f();
  });

  it('detects faces on camera frames from the page and draws their boxes, streams observations and weights to it', async () => {
    const port = await freePort();
    const child = startFixture('../../examples/browser/server.ts', ['--port', port]);
    cleanups.push(() => child.kill());
    await child.line((l) => l.includes('open http://'), 'the example to start', 60_000);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        `--use-file-for-fake-video-capture=${await camera()}`,
      ],
    });
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    const counters = (): Promise<Counters | undefined> =>
      page.evaluate(() => (globalThis as { edgemlExample?: Counters }).edgemlExample);
    await waitFor(
      async () => {
        const c = await counters();
        return c !== undefined && c.frames >= 3 && c.faces >= 1 && c.obs >= 3 && c.weights >= 1;
      },
      'frames with faces, observations and weights in the page',
      30_000,
    );
    const c = (await counters())!;
    expect(c.errors).toEqual([]);
    // Frames travel JPEG-encoded: far smaller than the 320 x 240 x 3 = 230,400 raw bytes.
    expect(c.jpegBytes).toBeGreaterThan(0);
    expect(c.jpegBytes).toBeLessThan(230_400 / 4);
    expect(await page.textContent('#fps')).not.toBe('-');
    expect(Number(await page.textContent('#faces'))).toBeGreaterThanOrEqual(1);
    // The boxes are drawn: the overlay holds green pixels (#0f0) where they are.
    const green = await page.evaluate(() => {
      const overlay = (
        globalThis as unknown as { document: { getElementById(id: string): unknown } }
      ).document.getElementById('overlay') as {
        getContext(kind: '2d'): {
          getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
        };
      };
      const { data } = overlay.getContext('2d').getImageData(0, 0, 640, 480);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i + 1]! > 200 && data[i]! < 50 && data[i + 3]! > 0) n++;
      return n;
    });
    expect(green).toBeGreaterThan(100);
    mkdirSync(dirname(ARTIFACT), { recursive: true });
    writeFileSync(ARTIFACT, await page.screenshot({ fullPage: true }));
  }, 90_000);
});
