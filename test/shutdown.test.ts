/**
 * Clean shutdown: a process that closes what it opened exits on its own, and a port freed by `stop()` can be bound
 * again at once.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tcpEndpoint } from '../src/core/endpoint.js';
import { InferenceClient, InferenceServer } from '../src/index.js';
import { Publisher } from '../src/messaging/broadcast.js';
import { ZmqTransport } from '../src/zmq.js';
import { HOST, within } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/open-close.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

describe('shutdown', () => {
  it('a process that opens and closes servers, clients, publishers and subscribers exits 0 on its own', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    // The deadline is generous (a loaded machine starts tsx slowly); a process held open by a socket, timer or
    // pending promise never exits at all.
    const code = await within(exited, 25_000, `the child to exit (stdout: ${stdout}; stderr: ${stderr})`);
    expect(stderr).toBe('');
    expect(stdout.trim().split('\n')).toEqual(['inference used', 'broadcast used', 'done']);
    expect(code).toBe(0);
  });

  it('after stop(), a new server binds the same port at once, also with a client connected', async () => {
    const first = new InferenceServer({ port: 0, host: HOST });
    first.registerInterface('which', () => 0);
    await first.start();
    const port = first.port;
    const client = new InferenceClient(HOST, port, { timeoutMs: 10_000 });
    cleanups.push(() => client.close());
    expect(await client.call('which', undefined)).toBe(0);
    await first.stop();
    for (let round = 1; round <= 3; round++) {
      const next = new InferenceServer({ port, host: HOST });
      next.registerInterface('which', () => round);
      await next.start();
      expect(next.port).toBe(port);
      expect(await client.call('which', undefined)).toBe(round);
      await next.stop();
    }
  });

  it('after stop(), a publisher binds the same port again', async () => {
    const transport = new ZmqTransport();
    const pub = new Publisher();
    const [port] = await pub.start([{ transport, endpoint: tcpEndpoint(HOST, 0) }]);
    expect(port).toBeGreaterThan(0);
    await pub.stop();
    const again = new Publisher();
    expect(await again.start([{ transport, endpoint: tcpEndpoint(HOST, port!) }])).toEqual([port]);
    await again.stop();
  });
});
