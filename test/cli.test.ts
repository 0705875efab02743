/**
 * The `edgeml` command run as child processes: usage and argument errors, and the seed's example with the server and
 * the client in two processes that both exit 0 on their own (the server after SIGTERM).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, waitFor } from './helpers.js';
import { killLeftoverClis, runCli } from './support/cli-run.js';

const cli = runCli;
afterEach(killLeftoverClis);

describe('edgeml command', () => {
  it('prints usage with --help (exit 0) and refuses unknown commands and options (exit 2)', async () => {
    const help = cli('--help');
    const unknown = cli('frobnicate');
    const badPort = cli('example', '--port', 'abc', '--client');
    expect((await help.exit).code).toBe(0);
    expect(help.stdout()).toContain('usage: edgeml <command>');
    expect(help.stdout()).toContain('example');
    expect((await unknown.exit).code).toBe(2);
    expect(unknown.stderr()).toContain('unknown command "frobnicate"');
    expect((await badPort.exit).code).toBe(2);
    expect(badPort.stderr()).toContain('--port must be an integer');
  });

  it('runs the example: the client ends by itself with a summary, the server stops on SIGTERM; both exit 0', async () => {
    const server = cli('example', '--server', '--port', '0', '--fps', '20');
    const listening = /requests on [^:\s]+:(\d+), stream on [^:\s]+:(\d+)/;
    await waitFor(
      () => listening.test(server.stdout()) || server.child.exitCode !== null,
      'the example server to listen',
      20_000,
    );
    const [, port, broadcastPort] = listening.exec(server.stdout()) ?? [];
    // Still running, listening on two real, distinct ports (port 0 asked for ephemeral ones).
    expect(server.child.exitCode, server.stderr()).toBeNull();
    for (const p of [port, broadcastPort]) {
      expect(p, server.stdout()).toMatch(/^\d+$/);
      expect(Number(p)).toBeGreaterThan(0);
      expect(Number(p)).toBeLessThan(65_536);
    }
    expect(port).not.toBe(broadcastPort);

    const client = cli('example', '--client', '--port', port!, '--broadcast-port', broadcastPort!, '--seconds', '1.5');
    const clientExit = await client.exit;
    expect(clientExit.code, client.stderr()).toBe(0);
    const summary = client.stdout();
    expect(summary).toContain('summary:');
    expect(summary).toMatch(/summary: [1-9]\d* steps, 0 errors/);
    expect(summary).toMatch(/obs latency p50 [\d.]+ ms/);
    // The server streams at 20 fps: a client running 1.5 s counts some streamed frames.
    const frames = Number(/stream: (\d+) frames/.exec(summary)?.[1]);
    expect(frames).toBeGreaterThan(0);

    expect(server.child.exitCode).toBeNull();
    expect(server.stdout()).toMatch(/streaming \d+x\d+x\d+ uint8 frames at 20 fps; stop with Ctrl-C/);
    server.child.kill('SIGTERM');
    const serverExit = await server.exit;
    expect(serverExit.code, server.stderr()).toBe(0);
    expect(server.stdout()).toMatch(/SIGTERM: stopped after \d+ frames, \d+ requests, [1-9]\d* actions/);
  });

  it('the client exits 1 with a message when no server answers', async () => {
    const port = String(await freePort());
    const client = cli('example', '--client', '--port', port, '--seconds', '1', '--timeout', '500');
    expect((await client.exit).code).toBe(1);
    expect(client.stderr()).toContain('cannot start the example client');
  });
});

describe('edgeml ping and interfaces', () => {
  it('pings a live server (exit 0), lists an inference server’s interfaces, and exits 1 when nothing answers', async () => {
    const { InferenceServer } = await import('../src/index.js');
    const server = new InferenceServer({ port: 0, host: '127.0.0.1' });
    server.registerInterface('detect', (p) => p).registerInterface('classify', (p) => p);
    await server.start();
    try {
      const pinged = cli('ping', '--port', String(server.port), '--count', '2');
      const listed = cli('interfaces', '--port', String(server.port));
      const dead = cli('ping', '--port', String(await freePort()), '--count', '1', '--timeout', '300');
      expect((await pinged.exit).code).toBe(0);
      // Every line: both pongs from this very server, in order, with a measured time, then the summary.
      const pong = (seq: number): RegExp =>
        new RegExp(`^pong from 127\\.0\\.0\\.1:${server.port}: seq=${seq} time=\\d+\\.\\d{2} ms$`);
      const lines = pinged.stdout().trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(pong(1));
      expect(lines[1]).toMatch(pong(2));
      expect(lines[2]).toBe('2 pings, 2 answered');
      expect(pinged.stderr()).toBe('');
      expect((await listed.exit).code).toBe(0);
      expect(listed.stdout().trim().split('\n')).toEqual(['detect', 'classify']);
      expect((await dead.exit).code).toBe(1);
      expect(dead.stderr()).toMatch(/timed out after 300 ms/);
      expect(dead.stdout().trim()).toBe('1 pings, 0 answered');
      // Both pings and the listing reached this server (the dead ping went to another port).
      const st = server.stats();
      expect(st.requests).toBe(3);
      expect(st.methods.ping?.calls).toBe(2);
      expect(st.methods.interfaces?.calls).toBe(1);
    } finally {
      await server.stop();
    }
  });

  it('takes the server as an endpoint URL (ws:// here), and refuses a URL together with --port', async () => {
    const { InferenceServer } = await import('../src/index.js');
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}/edgeml`;
    const server = new InferenceServer({ listen: url });
    server.registerInterface('detect', (p) => p);
    await server.start();
    try {
      const pinged = cli('ping', url, '--count', '1');
      const listed = cli('interfaces', url);
      const both = cli('ping', url, '--port', String(port));
      expect((await pinged.exit).code, pinged.stderr()).toBe(0);
      expect(pinged.stdout()).toMatch(new RegExp(`^pong from ${url}: seq=1 time=`));
      expect((await listed.exit).code, listed.stderr()).toBe(0);
      expect(listed.stdout().trim()).toBe('detect');
      expect((await both.exit).code).toBe(2);
      expect(both.stderr()).toMatch(/either a URL or --host\/--port/);
      expect(server.stats().methods.ping?.calls).toBe(1);
    } finally {
      await server.stop();
    }
  });
});
