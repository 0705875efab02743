/**
 * Shared test helpers: waiting on conditions with deadlines (never fixed sleeps), and both transports.
 */

import { createServer } from 'node:net';
import { parseEndpoint, tcpEndpoint } from '../src/core/endpoint.js';
import type { Endpoint } from '../src/core/types.js';
import { latestFetcher, type Publisher, type SubscriberOptions, serveLatest } from '../src/messaging/broadcast.js';
import { RpcClient } from '../src/messaging/rpc-client.js';
import { RpcServer } from '../src/messaging/rpc-server.js';
import { generateKeyPair } from '../src/transport/curve-keys.js';
import { InprocTransport } from '../src/transport/inproc/inproc-transport.js';
import type { Transport } from '../src/transport/types.js';
import { WsTransport } from '../src/transport/ws/ws-transport.js';
import { ZmqTransport } from '../src/transport/zmq/zmq-transport.js';

/** Resolves once `condition()` is truthy; rejects with a message naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => unknown, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Rejects if `promise` does not settle within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A ZeroMQ transport with CURVE on: its servers use a fresh key pair, its clients know the server key. */
function curveTransport(): Transport {
  const server = generateKeyPair();
  return new ZmqTransport({ server: { keyPair: server }, client: { serverPublicKey: { z85: server.publicKey } } });
}

/** Loopback host used by every test. */
export const HOST = '127.0.0.1';

/** The transports every conformance suite runs against, and the endpoint of a loopback port for each. */
export const transports: { name: string; make: () => Transport; endpoint: (port: number) => Endpoint }[] = [
  { name: 'zmq', make: () => new ZmqTransport(), endpoint: (port) => tcpEndpoint(HOST, port) },
  { name: 'zmq+curve', make: curveTransport, endpoint: (port) => tcpEndpoint(HOST, port) },
  { name: 'inproc', make: () => new InprocTransport(), endpoint: (port) => tcpEndpoint(HOST, port) },
  { name: 'ws', make: () => new WsTransport(), endpoint: (port) => parseEndpoint(`ws://${HOST}:${port}/edgeml`) },
];

/** A loopback port nothing listens on: bound by the system, then released. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, HOST, resolve));
  const address = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A promise together with its resolver, to hold a handler until the test lets it go. */
export function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    open = r;
  });
  return { promise, open };
}

/**
 * Serves `latest` for a bare publisher the way every mode does (an rpc server beside it), and returns the fetch its
 * subscribers pass as `fetchLatest`, and a close function for both ends.
 */
export async function latestService(
  transport: Transport,
  pub: Publisher,
): Promise<{ fetchLatest: NonNullable<SubscriberOptions['fetchLatest']>; close: () => Promise<void> }> {
  const rpc = new RpcServer();
  serveLatest(rpc, pub);
  const [port] = (await rpc.start([{ transport, endpoint: tcpEndpoint(HOST, 0) }])) as [number];
  const via = latestVia(transport, port);
  return {
    fetchLatest: via.fetchLatest,
    close: async () => {
      via.close();
      await rpc.stop();
    },
  };
}

/** The `fetchLatest` of a subscriber whose publisher's request channel (a mode server's port) is `port`. */
export function latestVia(
  transport: Transport,
  port: number,
): { fetchLatest: NonNullable<SubscriberOptions['fetchLatest']>; close: () => void } {
  const client = new RpcClient(transport, tcpEndpoint(HOST, port), { timeoutMs: 5000 });
  return { fetchLatest: latestFetcher((m, n, p) => client.call(m, n, p)), close: () => client.close() };
}
