/**
 * The browser example (`edgeml example --browser`) end to end: its server in a child process, its page in Chromium
 * with a fake camera: frames reach the face detector and come back, observations and weights arrive. Skipped when
 * Chromium is not installed.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { startFixture } from './faults/child.js';
import { freePort, waitFor } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const have = existsSync(CHROMIUM);

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

  it('detects on camera frames from the page, streams observations and weights to it', async () => {
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
        return c !== undefined && c.frames >= 3 && c.obs >= 3 && c.weights >= 1;
      },
      'frames, observations and weights in the page',
      30_000,
    );
    const c = (await counters())!;
    expect(c.errors).toEqual([]);
    // Frames travel JPEG-encoded: far smaller than the 320 x 240 x 3 = 230,400 raw bytes.
    expect(c.jpegBytes).toBeGreaterThan(0);
    expect(c.jpegBytes).toBeLessThan(230_400 / 4);
    expect(await page.textContent('#fps')).not.toBe('-');
  }, 90_000);
});
