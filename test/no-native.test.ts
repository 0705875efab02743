import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('a program that uses only inproc://', () => {
  it('runs an inference call, a trainer step and an observation stream with zeromq unresolvable', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', fixture('no-zeromq.mjs'), '--import', 'tsx', fixture('inproc-only.ts')],
      { timeout: 20_000 },
    );
    expect(JSON.parse(stdout.trim())).toEqual({
      doubled: [2, 4, 6],
      step: { stored: 'agent' },
      cam: 42,
      zeromqLoadable: false,
    });
  });
});
