import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

describe('edgeml example --server with its stdout closed (a shell pipe whose reader exits)', () => {
  it('keeps serving and exits cleanly on SIGINT, although writing to stdout now fails with EPIPE', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'example', '--server', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // The first line says it is serving; then the reader goes away, as `| head -1` does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    child.kill('SIGINT'); // its goodbye line now goes to a closed pipe
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(stderr).not.toContain('EPIPE');
  });
});
