/**
 * The system under test: an edgeml {@link InferenceServer} with an `echo` interface and one {@link InferenceClient},
 * over the default ZeroMQ transport on loopback. Every call encodes and decodes for real, as a user's call would.
 *
 * @module
 */
import { InferenceClient, InferenceServer } from '../src/inference.js';
import type { RoundTrip, RoundTripTarget } from './measure.js';
import { type BenchCase, dataBytes } from './payloads.js';

const HOST = '127.0.0.1';

/** edgeml request/reply echo. */
export class EdgemlTarget implements RoundTripTarget {
  readonly name = 'edgeml';
  readonly heavy = false;
  private server: InferenceServer | undefined;
  private client: InferenceClient | undefined;

  async open(): Promise<void> {
    this.server = new InferenceServer({ port: 0, host: HOST });
    this.server.registerInterface('echo', (payload) => payload);
    await this.server.start();
    this.client = new InferenceClient(HOST, this.server.port, { timeoutMs: 30_000 });
  }

  supports(): boolean {
    return true;
  }

  async prepare(c: BenchCase): Promise<RoundTrip> {
    const client = this.client;
    if (!client) throw new Error('edgeml target is not open');
    const expected = dataBytes(c.payload);
    // Check the echo once, outside the measured calls.
    const echoed = await client.call('echo', c.payload);
    if (dataBytes(echoed) !== expected) throw new Error(`edgeml echo of ${c.name} came back with other data`);
    return async () => {
      await client.call('echo', c.payload);
    };
  }

  async close(): Promise<void> {
    this.client?.close();
    await this.server?.stop();
    this.client = undefined;
    this.server = undefined;
  }
}
