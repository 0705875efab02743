/**
 * A real `nats-server` for the NATS tests: started with JetStream on a free loopback port and a fresh store
 * directory, ready once it accepts TCP connections. Tests skip (with the reason) when the binary is missing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, HOST, waitFor } from './helpers.js';

/** The `nats-server` binary: `$NATS_SERVER`, or the Debian package's. */
export const NATS_SERVER_BIN = [process.env.NATS_SERVER, '/usr/bin/nats-server', '/usr/sbin/nats-server'].find(
  (p): p is string => p !== undefined && p !== '' && existsSync(p),
);

/** Why the NATS tests are skipped, or `undefined` when they run. */
export const NATS_SKIP_REASON =
  NATS_SERVER_BIN === undefined
    ? 'nats-server not found (looked at $NATS_SERVER, /usr/bin/nats-server, /usr/sbin/nats-server): apt install nats-server'
    : undefined;

/** A running nats-server. */
export interface NatsServerProcess {
  port: number;
  /** `nats://127.0.0.1:<port>` */
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, HOST);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts a nats-server (`-js -sd <tmpdir>`); extra arguments after. */
export async function startNatsServer(extra: readonly string[] = []): Promise<NatsServerProcess> {
  if (NATS_SERVER_BIN === undefined) throw new Error(NATS_SKIP_REASON);
  const dir = mkdtempSync(join(tmpdir(), 'edgeml-nats-'));
  const port = await freePort();
  const child = spawn(NATS_SERVER_BIN, ['-a', HOST, '-p', String(port), '-js', '-sd', dir, ...extra], {
    stdio: 'ignore',
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  await waitFor(async () => exited || (await accepts(port)), 'nats-server to accept connections');
  if (exited) throw new Error(`nats-server exited at start (port ${port})`);
  return {
    port,
    url: `nats://${HOST}:${port}`,
    process: child,
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await exit;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A worker of `test/fixtures/nats-worker.ts` in a child process, and what it printed. */
export interface NatsWorker {
  name: string;
  child: ChildProcess;
  /** Calls this worker started (`did n` lines). */
  did: number[];
  /** It printed `ready`: it serves. */
  ready: boolean;
}

const NATS_WORKER = join(import.meta.dirname, 'fixtures', 'nats-worker.ts');

/** Starts a worker of the service at `url` (its `ready` turns true once it serves). */
export function startNatsWorker(url: string, name: string): NatsWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', NATS_WORKER, url, name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const w: NatsWorker = { name, child, did: [], ready: false };
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') w.ready = true;
      else if (line.startsWith('did ')) w.did.push(Number(line.slice(4)));
    }
  });
  return w;
}

/** Resolves once the worker's process has exited. */
export function exitedWorker(w: NatsWorker): Promise<void> {
  return new Promise<void>((resolve) => {
    if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
    w.child.once('exit', () => resolve());
  });
}

/** Stops the workers (SIGTERM) and waits for them to exit. */
export async function stopWorkers(workers: readonly NatsWorker[]): Promise<void> {
  await Promise.all(
    workers.map((w) => {
      const done = exitedWorker(w);
      w.child.kill('SIGTERM');
      return done;
    }),
  );
}
