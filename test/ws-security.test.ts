/**
 * WebSocket security: tokens checked at the upgrade (a refused client gets an AuthenticationError at once), the
 * Origin allow-list, and wss:// with a self-signed certificate made by `openssl` for the test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AuthenticationError, type ConnectionStatus, InferenceClient, InferenceServer, Tensor } from '../src/index.js';
import { HOST, waitFor, within } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function server(options: ConstructorParameters<typeof InferenceServer>[0] & object): Promise<InferenceServer> {
  const s = new InferenceServer(options);
  s.registerInterface('echo', (p) => p);
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

function client(url: string, options: ConstructorParameters<typeof InferenceClient>[1] = {}): InferenceClient {
  const c = new InferenceClient(url, { timeoutMs: 5000, ...(options as object) });
  cleanups.push(() => c.close());
  return c;
}

function openssl(): { key: string; cert: string } | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'edgeml-tls-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]),
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const tls = openssl();

describe('WebSocket tokens', () => {
  it('serves a client with an accepted token, refuses others with AuthenticationError at once', async () => {
    const s = await server({ listen: `ws://${HOST}:0/edgeml`, ws: { tokens: ['s3cret'] } });
    const url = `ws://${HOST}:${s.port}/edgeml`;
    const good = client(url, { ws: { token: 's3cret' } });
    expect(await good.call('echo', 'in')).toBe('in');

    const statuses: ConnectionStatus[] = [];
    const bad = client(url, { ws: { token: 'wrong' }, onStatus: (st) => statuses.push(st) });
    const t = performance.now();
    const e = await bad.call('echo', 'x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AuthenticationError);
    expect(performance.now() - t).toBeLessThan(2000);
    expect(bad.status).toBe('unauthorized');
    expect(statuses).toContain('unauthorized');
    // Calls while refused reject at once.
    const t2 = performance.now();
    expect(await bad.call('echo', 'y').catch((x: unknown) => x)).toBeInstanceOf(AuthenticationError);
    expect(performance.now() - t2).toBeLessThan(50);

    const none = client(url);
    expect(await none.call('echo', 'z').catch((x: unknown) => x)).toBeInstanceOf(AuthenticationError);
  });

  it('asks verifyToken (async) and never puts the token in the URL', async () => {
    const seen: string[] = [];
    let path = '';
    const s = await server({
      listen: `ws://${HOST}:0/edgeml`,
      ws: {
        verifyToken: async (token) => {
          seen.push(token);
          await new Promise((r) => setTimeout(r, 5));
          return token.startsWith('robot-');
        },
      },
    });
    const url = `ws://${HOST}:${s.port}/edgeml`;
    const c = client(url, { ws: { token: 'robot-1 ünïcode' } });
    expect(await c.call('echo', 1)).toBe(1);
    expect(seen).toEqual(['robot-1 ünïcode']);
    const bad = client(url, { ws: { token: 'human' } });
    expect(await bad.call('echo', 1).catch((x: unknown) => x)).toBeInstanceOf(AuthenticationError);
    // The URL a raw peer opens carries no token; the token travels in Sec-WebSocket-Protocol.
    const peer = new WebSocket(url, ['edgeml.v1']);
    peer.on('upgrade', (res) => {
      path = res.url ?? '';
    });
    const code = await within(new Promise<number>((r) => peer.once('close', (c2) => r(c2))), 5000, 'the close');
    expect(code).toBe(4401);
    expect(path).not.toContain('robot');
  });
});

describe('WebSocket Origin allow-list', () => {
  it('closes a browser page from another origin with 4403; allowed origins and non-browser peers pass', async () => {
    const s = await server({ listen: `ws://${HOST}:0/edgeml`, ws: { allowedOrigins: ['https://app.example.com'] } });
    const url = `ws://${HOST}:${s.port}/edgeml`;
    const codeOf = (origin: string): Promise<number | 'ready'> =>
      new Promise((resolve) => {
        const ws = new WebSocket(url, ['edgeml.v1'], { origin });
        cleanups.push(() => ws.terminate());
        ws.once('message', () => resolve('ready'));
        ws.once('close', (code) => resolve(code));
      });
    expect(await codeOf('https://evil.example.net')).toBe(4403);
    expect(await codeOf('https://app.example.com')).toBe('ready');
    expect(await client(url).call('echo', 'no origin')).toBe('no origin');
  });
});

describe.skipIf(!tls)('wss:// (self-signed certificate from openssl)', () => {
  it('round trips a tensor over TLS with the server key and cert, and on an https.Server given to it', async () => {
    const { key, cert } = tls!;
    const s = await server({ listen: `wss://${HOST}:0/edgeml`, ws: { key, cert } });
    const c = client(`wss://${HOST}:${s.port}/edgeml`, { ws: { ca: cert } });
    const x = new Tensor('float64', Float64Array.of(1.5, -2), [2]);
    const y = (await c.call('echo', x)) as Tensor;
    expect([...(y.data as Float64Array)]).toEqual([1.5, -2]);

    // A client that does not trust the certificate never connects.
    const untrusting = client(`wss://${HOST}:${s.port}/edgeml`, { timeoutMs: 300, ws: { rejectUnauthorized: true } });
    expect(await untrusting.call('echo', 1).catch((e: unknown) => (e as Error).name)).toBe('TimeoutError');

    const https = createHttpsServer({ key, cert });
    await new Promise<void>((r) => https.listen(0, HOST, () => r()));
    cleanups.push(() => new Promise<void>((r) => https.close(() => r())));
    const port = (https.address() as { port: number }).port;
    const s2 = await server({ listen: `wss://${HOST}:${port}/edgeml`, ws: { server: https, tokens: ['t'] } });
    expect(s2.port).toBe(port);
    const c2 = client(`wss://${HOST}:${port}/edgeml`, { ws: { ca: cert, token: 't' } });
    expect(await c2.call('echo', 'on your server')).toBe('on your server');
    await waitFor(() => c2.status === 'connected', 'connected');
  });
});

if (!tls) console.warn('ws-security: openssl not found, wss:// tests skipped');
