/**
 * The system under test: {@link InferenceClient}s calling an edgeml {@link InferenceServer} (started by servers.ts)
 * over the default ZeroMQ transport on loopback. Every call encodes and decodes for real, as a user's call would.
 *
 * @module
 */
import { InferenceClient } from '../src/modes/inference/client.js';
import { InferenceServer } from '../src/modes/inference/server.js';
import type { RoundTrip, RoundTripTarget } from './measure.js';
import { ACK, type BenchCase, dataBytes } from './payloads.js';

/** Loopback, where every benchmark server listens. */
export const HOST = '127.0.0.1';

/** What a round trip does: `echo` sends the payload back, `upload` answers with the small {@link ACK}. */
export type Mode = 'echo' | 'upload';

/** Starts the edgeml server of the benchmark: interfaces `echo` and `upload`. */
export async function startEdgemlServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new InferenceServer({ port: 0, host: HOST });
  server.registerInterface('echo', (payload) => payload);
  server.registerInterface('upload', () => ACK);
  await server.start();
  return { port: server.port, close: () => server.stop() };
}

/** A client of the edgeml server. */
export function edgemlClient(port: number): InferenceClient {
  return new InferenceClient(HOST, port, { timeoutMs: 60_000 });
}

/** edgeml request/reply, one client. */
export class EdgemlTarget implements RoundTripTarget {
  readonly name = 'edgeml';
  readonly heavy = false;
  private client: InferenceClient | undefined;

  constructor(
    private readonly port: number,
    private readonly mode: Mode,
  ) {}

  async open(): Promise<void> {
    this.client = edgemlClient(this.port);
  }

  supports(): boolean {
    return true;
  }

  async prepare(c: BenchCase): Promise<RoundTrip> {
    const client = this.client;
    if (!client) throw new Error('edgeml target is not open');
    const method = this.mode;
    // Check the reply once, outside the measured calls.
    const reply = await client.call(method, c.payload);
    const ok = method === 'echo' ? dataBytes(reply) === dataBytes(c.payload) : JSON.stringify(reply) === '{"ok":true}';
    if (!ok) throw new Error(`edgeml ${method} of ${c.name} came back wrong`);
    return async () => {
      await client.call(method, c.payload);
    };
  }

  async close(): Promise<void> {
    this.client?.close();
    this.client = undefined;
  }
}
