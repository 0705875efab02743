/**
 * A TCP fault proxy for tests: sits between a client and a server on loopback and can delay, stall, cut and
 * blackhole the connections that pass through it.
 */
import net from 'node:net';

/** Modes of the proxy. */
export type ProxyMode = 'pass' | 'stall' | 'blackhole';

interface Pair {
  client: net.Socket;
  server: net.Socket;
  /** Data was discarded in blackhole mode: the byte stream is broken for good. */
  lost: boolean;
}

/** A TCP proxy with fault controls. */
export class FaultProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<Pair>();
  private mode: ProxyMode = 'pass';
  private delayMs = 0;
  /** Connections accepted so far. */
  accepted = 0;
  /** Bytes forwarded client→server and server→client. */
  bytesUp = 0;
  bytesDown = 0;
  /** Bytes discarded in blackhole mode. */
  bytesLost = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Starts listening on an ephemeral loopback port; resolves with it. */
  async start(): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  /** Number of live connections. */
  get connections(): number {
    return this.pairs.size;
  }

  /**
   * Forwards data normally, after `delayMs` (0: at once). Connections that lost data in blackhole mode are destroyed
   * (a TCP stream cannot skip bytes and go on; the peers reconnect), the others resume.
   */
  pass(delayMs = 0): void {
    this.mode = 'pass';
    this.delayMs = delayMs;
    for (const p of this.pairs) {
      if (p.lost) {
        this.pairs.delete(p);
        p.client.destroy();
        p.server.destroy();
        continue;
      }
      p.client.resume();
      p.server.resume();
    }
  }

  /** Stops forwarding (connections stay open, data waits in the kernel buffers) until `pass()`. */
  stall(): void {
    this.mode = 'stall';
    for (const p of this.pairs) {
      p.client.pause();
      p.server.pause();
    }
  }

  /**
   * Reads and discards everything in both directions (a half-open, silent peer), also on connections accepted
   * meanwhile. Discarded bytes are counted in {@link bytesLost}.
   */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const p of this.pairs) {
      p.client.resume();
      p.server.resume();
    }
  }

  /** Destroys every live connection (as if the network dropped them); new connections are still accepted. */
  cut(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.server.destroy();
    }
    this.pairs.clear();
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    this.cut();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const server = net.connect(this.targetPort, this.targetHost);
    const pair: Pair = { client, server, lost: false };
    this.pairs.add(pair);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('error', drop).on('close', drop);
    server.on('error', drop).on('close', drop);
    this.pipe(pair, client, server, (n) => {
      this.bytesUp += n;
    });
    this.pipe(pair, server, client, (n) => {
      this.bytesDown += n;
    });
    if (this.mode === 'stall') {
      client.pause();
      server.pause();
    }
  }

  private pipe(pair: Pair, from: net.Socket, to: net.Socket, count: (n: number) => void): void {
    from.on('data', (chunk: Buffer) => {
      if (this.mode === 'blackhole') {
        pair.lost = true;
        this.bytesLost += chunk.length;
        return;
      }
      count(chunk.length);
      if (this.delayMs > 0) setTimeout(() => to.writable && to.write(chunk), this.delayMs);
      else if (to.writable) to.write(chunk);
    });
  }
}
