/**
 * What the NATS benchmarks share: a nats-server of their own (PATH, /usr/sbin or $NATS_SERVER) on a free loopback
 * port with `max_payload` 8 MB (so that raw nats.js can carry cams4 in one message), and raw nats.js connections with
 * exactly the options an edgeml link uses, so that the raw floor and edgeml differ only in what edgeml adds.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectOptions, natsModule } from '../src/transport/nats/link.js';

/** A running nats-server. */
export interface BenchNatsServer {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>` */
  hostPort: string;
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/**
 * Starts a nats-server and resolves once it accepts connections: `max_payload` 8 MB unless `maxPayload` is given,
 * JetStream (its store in the server's temporary directory) with `jetstream`.
 */
export async function startNatsServer(
  options: { maxPayload?: number; jetstream?: boolean } = {},
): Promise<BenchNatsServer> {
  const bin = [process.env.NATS_SERVER, '/usr/bin/nats-server', '/usr/sbin/nats-server'].find(
    (p) => p && existsSync(p),
  );
  if (!bin) throw new Error('nats-server not found (set NATS_SERVER)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'edgeml-nats-bench-'));
  const js = options.jetstream ? `jetstream { store_dir: "${join(dir, 'js')}" }\n` : '';
  writeFileSync(
    join(dir, 'nats.conf'),
    `listen: 127.0.0.1:${port}\nmax_payload: ${options.maxPayload ?? 8388608}\n${js}`,
  );
  const child = spawn(bin, ['-c', join(dir, 'nats.conf')], { stdio: 'ignore' });
  const hostPort = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await (await rawConnect(hostPort)).close();
      break;
    } catch (e) {
      if (i > 100) {
        child.kill('SIGTERM');
        throw e;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `nats://${hostPort}`,
    hostPort,
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A raw nats.js connection with the options of an edgeml link (link.ts, `connectOptions`). */
export async function rawConnect(hostPort: string): Promise<NatsConnection> {
  const mod = await natsModule();
  return mod.connect(await connectOptions(mod, hostPort, {}));
}
