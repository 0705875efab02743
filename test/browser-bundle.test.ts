/** `edgeml/browser` bundles without Node built-ins and within its size budget (what `npm run check:bundle` checks). */
import { describe, expect, it } from 'vitest';
import { buildBrowser, checkBundle, MAX_GZIP_BYTES } from '../scripts/build-browser.js';

describe('the browser bundle', () => {
  it(`builds, holds no Node-only code and stays under ${MAX_GZIP_BYTES / 1024} kB gzipped`, async () => {
    const result = await buildBrowser();
    expect(checkBundle(result)).toEqual([]);
    expect(result.gzipBytes).toBeLessThanOrEqual(MAX_GZIP_BYTES);
  });
});
