import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dirs: string[] = [];

/** A separate copy of the library's sources (its own module instances), resolving packages from this repo. */
async function copyOfLibrary(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeml-copy-'));
  dirs.push(dir);
  await cp(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'src', 'index.ts');
}

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('two copies of edgeml in one process', () => {
  it('each runs CURVE with its own allow-list, beside a raw zeromq CURVE server, without meeting', async () => {
    const [a, b] = await Promise.all([copyOfLibrary(), copyOfLibrary()]);
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./fixtures/two-copies.ts', import.meta.url)), a, b],
      { timeout: 30_000, cwd: ROOT },
    );
    expect(JSON.parse(stdout.trim())).toEqual({
      a: 'copy A',
      b: 'copy B',
      raw: 'raw:hi',
      strangerA: 'AuthenticationError',
      strangerB: 'AuthenticationError',
    });
  });
});
