/** The version servers report in discovery is package.json's. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { LIBRARY_VERSION } from '../../src/core/defaults.js';

it('LIBRARY_VERSION is the version in package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(LIBRARY_VERSION).toBe(pkg.version);
});
