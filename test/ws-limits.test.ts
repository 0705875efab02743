/**
 * The WebSocket transport under bad and heavy peers: garbage, truncated and oversized messages, too many frames and
 * clients, a slow reader, a peer that stops answering heartbeats, and a thousand idle connections.
 */
import { connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { parseEndpoint } from '../src/core/endpoint.js';
import { InferenceClient } from '../src/index.js';
import { Publisher } from '../src/messaging/broadcast.js';
import { RpcClient } from '../src/messaging/rpc-client.js';
import { RpcServer } from '../src/messaging/rpc-server.js';
import { encodeWsMessage, topicFrame, WsKind } from '../src/transport/ws/framing.js';
import { WsTransport } from '../src/transport/ws/ws-transport.js';
import type { WsServerOptions } from '../src/transport/ws-options.js';
import { encodeRequest } from '../src/wire/envelopes.js';
import { startFixture } from './faults/child.js';
import { HOST, waitFor, within } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function serve(
  ws: WsServerOptions = {},
  opts: { maxMessageBytes?: number; heartbeatMs?: number } = {},
): Promise<{ transport: WsTransport; rpc: RpcServer; pub: Publisher; url: string }> {
  const transport = new WsTransport({ server: ws });
  const rpc = new RpcServer({
    ...(opts.maxMessageBytes ? { limits: { maxMessageBytes: opts.maxMessageBytes } } : {}),
    ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
  });
  rpc.handle('echo', (p) => p);
  const endpoint = parseEndpoint(`ws://${HOST}:0/edgeml`);
  const [port] = (await rpc.start([{ transport, endpoint }])) as [number];
  const pub = new Publisher();
  await pub.start([{ transport, endpoint }]);
  cleanups.push(
    () => rpc.stop(),
    () => pub.stop(),
  );
  return { transport, rpc, pub, url: `ws://${HOST}:${port}/edgeml` };
}

function client(url: string): RpcClient {
  const c = new RpcClient(new WsTransport(), parseEndpoint(url), { timeoutMs: 5000 });
  cleanups.push(() => c.close());
  return c;
}

/** A raw `ws` peer offering the edgeml subprotocol; resolves once the server's `ready` arrived. */
async function raw(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, ['edgeml.v1'], options);
  cleanups.push(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

describe('WebSocket limits', () => {
  it('closes peers that send garbage, text or too many frames with 1002, counts them, keeps serving others', async () => {
    const { transport, url } = await serve();
    const good = client(url);
    expect(await good.call('echo', undefined, 1)).toBe(1);
    const messages: (Uint8Array | string)[] = [
      Uint8Array.of(1, 2, 3),
      new Uint8Array(64).fill(0xff),
      'hello',
      (() => {
        const m = new Uint8Array(8);
        m.set([1, 1]);
        new DataView(m.buffer).setUint32(4, 100_000, true);
        return m;
      })(),
      encodeWsMessage(WsKind.publish, [topicFrame('x'), Uint8Array.of(0xc0)]),
    ];
    for (const m of messages) {
      const bad = await raw(url);
      const code = closed(bad);
      bad.send(m);
      expect(await within(code, 5000, 'the close')).toBe(1002);
    }
    expect(transport.stats().malformed).toBe(messages.length);
    // A valid frame with a header the codec rejects reaches the rpc layer and is counted there.
    expect(await good.call('echo', undefined, 2)).toBe(2);
  });

  it('survives truncated WebSocket frames from a raw TCP peer', async () => {
    const { url } = await serve();
    const { port } = new URL(url);
    const sock = tcpConnect(Number(port), HOST);
    cleanups.push(() => sock.destroy());
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(
      'GET /edgeml HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: edgeml.v1\r\n\r\n',
    );
    // A masked binary frame announcing 1000 bytes, then 3 of them, then the connection ends.
    sock.write(Buffer.from([0x82, 0xfe, 0x03, 0xe8, 1, 2, 3, 4, 9, 9, 9]));
    sock.end();
    const good = client(url);
    expect(await good.call('echo', undefined, 'still here')).toBe('still here');
  });

  it('refuses a message over maxMessageBytes before reading it (1009)', async () => {
    const { url } = await serve({}, { maxMessageBytes: 4096 });
    const big = await raw(url);
    const code = closed(big);
    big.send(encodeWsMessage(WsKind.message, encodeRequest(1, 'echo', undefined, new Uint8Array(64 * 1024))));
    expect(await within(code, 5000, 'the close')).toBe(1009);
    const c = client(url);
    expect(await c.call('echo', undefined, 'small')).toBe('small');
  });

  it('refuses upgrades beyond maxClients with 503', async () => {
    const { transport, url } = await serve({ maxClients: 2 });
    await raw(url);
    await raw(url);
    const status = (ws: WebSocket): Promise<number> =>
      new Promise((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    const third = new WebSocket(url, ['edgeml.v1']);
    third.on('error', () => undefined);
    expect(await within(status(third), 5000, 'the refusal')).toBe(503);
    expect(transport.stats().refused).toBe(1);
  });

  it('refuses an upgrade without the edgeml subprotocol with 400', async () => {
    const { url } = await serve();
    const none = new WebSocket(url);
    none.on('error', () => undefined);
    const code = await within(
      new Promise<number>((resolve) => none.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0))),
      5000,
      'the refusal',
    );
    expect(code).toBe(400);
  });

  it('terminates a peer that stops answering heartbeats', async () => {
    const { transport, url } = await serve({}, { heartbeatMs: 50 });
    const silent = await raw(url, { autoPong: false });
    const code = closed(silent);
    expect(await within(code, 5000, 'the termination')).toBe(1006);
    expect(transport.stats().timedOut).toBe(1);
  });

  it('a client counts a server that stops answering its pings as gone, and reconnects', async () => {
    const mute = new WebSocketServer({ host: HOST, port: 0, handleProtocols: () => 'edgeml.v1' });
    let connections = 0;
    mute.on('connection', (ws) => {
      connections++;
      ws.send(encodeWsMessage(WsKind.ready, []));
      // ... and never answers anything after that.
    });
    await new Promise<void>((r) => mute.once('listening', () => r()));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          for (const c of mute.clients) c.terminate();
          mute.close(() => r());
        }),
    );
    const port = (mute.address() as { port: number }).port;
    const statuses: string[] = [];
    const c = new RpcClient(new WsTransport(), parseEndpoint(`ws://${HOST}:${port}/`), {
      heartbeatMs: 50,
      onStatus: (st) => statuses.push(st),
    });
    cleanups.push(() => c.close());
    await waitFor(() => statuses.includes('disconnected'), 'the client to give up on the mute server');
    await waitFor(() => connections >= 2, 'the client to connect again');
    expect(statuses.indexOf('connected')).toBeLessThan(statuses.indexOf('disconnected'));
  });

  it('a slow reader loses old stream messages (latest kept), others stay served, memory stays bounded', async () => {
    const { transport, pub, url } = await serve({ sendBudgetBytes: 1024 * 1024 }, { heartbeatMs: 60_000 });
    const slow = await raw(url);
    slow.send(encodeWsMessage(WsKind.subscribe, [topicFrame('cam')]));
    await waitFor(() => pub.stats().subscriptions === 1, 'the subscription');
    // The slow peer stops reading.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    const good = client(url);
    const frame = new Uint8Array(1024 * 1024);
    const before = process.memoryUsage().rss;
    let worst = 0;
    for (let i = 0; i < 300; i++) {
      frame[0] = i;
      pub.publish('cam', { i, frame });
      if (i % 30 === 0) {
        const t = performance.now();
        expect(await good.call('echo', undefined, i)).toBe(i);
        worst = Math.max(worst, performance.now() - t);
      }
    }
    const grew = process.memoryUsage().rss - before;
    // 300 MiB published; what is held for the slow peer is its budget, kernel buffers and the latest message.
    expect(grew).toBeLessThan(120 * 1024 * 1024);
    expect(worst).toBeLessThan(1000);
    expect(transport.stats().dropped).toBeGreaterThan(200);
    // Once it reads again, it ends on the newest message.
    let last = -1;
    slow.on('message', (data: Buffer) => {
      if (data[0] === WsKind.publish) last = data.length;
    });
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitFor(() => last > 0 && transport.stats().connections >= 2, 'the slow peer to catch up');
  });

  it('holds 1,000 idle connections with bounded memory (server in a child process)', async () => {
    const child = startFixture('ws-server.ts', []);
    cleanups.push(() => child.kill());
    const port = Number((await child.line((l) => l.startsWith('port '), 'the port', 20_000)).split(' ')[1]);
    const rss = async (): Promise<number> => {
      const before = child.lines.length;
      child.send('rss');
      await waitFor(() => child.lines.slice(before).some((l) => l.startsWith('rss ')), 'the rss line');
      return Number(
        child.lines
          .slice(before)
          .find((l) => l.startsWith('rss '))!
          .split(' ')[1],
      );
    };
    const base = await rss();
    const peers: WebSocket[] = [];
    cleanups.push(() => {
      for (const p of peers) p.terminate();
    });
    for (let i = 0; i < 1000; i += 100) {
      const batch = Array.from({ length: 100 }, () => raw(`ws://${HOST}:${port}/edgeml`));
      peers.push(...(await Promise.all(batch)));
    }
    const c = await InferenceClient.connect(`ws://${HOST}:${port}/edgeml`);
    cleanups.push(() => c.close());
    expect(await c.call('echo', 'with 1000 idle')).toBe('with 1000 idle');
    const grown = (await rss()) - base;
    // About 100 kB per connection at most (sockets, ws state, buffers).
    expect(grown).toBeLessThan(100 * 1024 * 1000);
  }, 60_000);
});
