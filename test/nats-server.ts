/**
 * A real `nats-server` for the NATS tests: started with JetStream on a free loopback port and a fresh store
 * directory, ready once it accepts TCP connections; or a cluster of them routed to each other. Tests skip (with the
 * reason) when the binary is missing.
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

/** A nats-server child process with its arguments, and a promise of its exit. */
function spawnNats(args: readonly string[]): { child: ChildProcess; exit: Promise<void>; exited: () => boolean } {
  if (NATS_SERVER_BIN === undefined) throw new Error(NATS_SKIP_REASON);
  const child = spawn(NATS_SERVER_BIN, args, { stdio: 'ignore' });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  return { child, exit, exited: () => exited };
}

/** Starts a nats-server (`-js -sd <tmpdir>`); extra arguments after. */
export async function startNatsServer(extra: readonly string[] = []): Promise<NatsServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeml-nats-'));
  const port = await freePort();
  const { child, exit, exited } = spawnNats(['-a', HOST, '-p', String(port), '-js', '-sd', dir, ...extra]);
  await waitFor(async () => exited() || (await accepts(port)), 'nats-server to accept connections');
  if (exited()) throw new Error(`nats-server exited at start (port ${port})`);
  return {
    port,
    url: `nats://${HOST}:${port}`,
    process: child,
    async stop() {
      if (!exited()) child.kill('SIGTERM');
      await exit;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A node of {@link startNatsCluster}. */
export interface NatsClusterNode extends NatsServerProcess {
  /** Its cluster (route) port. */
  clusterPort: number;
  /** SIGKILLs the node (no goodbye to its clients or routes) and waits for its exit. */
  kill(): Promise<void>;
}

/** A running cluster of nats-servers. */
export interface NatsCluster {
  nodes: NatsClusterNode[];
  /** The client URLs of every node, `nats://127.0.0.1:<port>` (a seed list). */
  urls: string[];
  /** Stops every node still running (SIGTERM) and removes their directories. */
  stopAll(): Promise<void>;
}

/**
 * Starts `n` nats-servers on loopback routed to each other (one `--cluster_name`, each node with routes to all the
 * others; no JetStream), each with its own directory (its log). Ready once every node accepts connections and a
 * message published on each node reaches a subscriber on each other node (every route carries interest and
 * messages).
 */
export async function startNatsCluster(n = 3): Promise<NatsCluster> {
  const ports: number[] = [];
  const clusterPorts: number[] = [];
  while (ports.length < 2 * n) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  clusterPorts.push(...ports.splice(n));
  const name = `edgeml-${process.pid}-${ports[0]}`;
  const nodes: NatsClusterNode[] = ports.map((port, i) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeml-nats-cluster-'));
    const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats://${HOST}:${p}`);
    const args = ['-a', HOST, '-p', String(port), '-n', `${name}-${i}`, '-l', join(dir, 'nats.log')];
    args.push('--cluster_name', name, '-cluster', `nats://${HOST}:${clusterPorts[i]}`, '-routes', routes.join(','));
    const { child, exit, exited } = spawnNats(args);
    const end = async (signal: NodeJS.Signals): Promise<void> => {
      if (!exited()) child.kill(signal);
      await exit;
      rmSync(dir, { recursive: true, force: true });
    };
    return {
      port,
      clusterPort: clusterPorts[i]!,
      url: `nats://${HOST}:${port}`,
      process: child,
      stop: () => end('SIGTERM'),
      kill: () => end('SIGKILL'),
    };
  });
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    await waitFor(async () => {
      const up = await Promise.all(nodes.map((node) => accepts(node.port)));
      if (nodes.some((node) => node.process.exitCode !== null)) throw new Error('a nats-server exited at start');
      return up.every(Boolean);
    }, 'every node of the NATS cluster to accept connections');
    await routesUp(nodes);
  } catch (e) {
    await stopAll();
    throw e;
  }
  return { nodes, urls: nodes.map((node) => node.url), stopAll };
}

/** Resolves once a message published on each node reaches a subscriber on each other node. */
async function routesUp(nodes: readonly NatsServerProcess[]): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const conns = await Promise.all(nodes.map((node) => connect({ servers: `${HOST}:${node.port}` })));
  const seen = new Set<string>();
  try {
    conns.forEach((nc, to) => {
      nc.subscribe(`cluster-ready.${to}.*`, {
        callback: (_, m) => {
          seen.add(`${m.subject.split('.')[2]}>${to}`);
        },
      });
    });
    await Promise.all(conns.map((nc) => nc.flush()));
    const pairs = nodes.flatMap((_, from) => nodes.map((_, to) => [from, to] as const)).filter(([f, t]) => f !== t);
    await waitFor(
      async () => {
        const missing = pairs.filter(([f, t]) => !seen.has(`${f}>${t}`));
        for (const [f, t] of missing) conns[f]!.publish(`cluster-ready.${t}.${f}`);
        await Promise.all(conns.map((nc) => nc.flush()));
        return missing.length === 0;
      },
      'the routes of the NATS cluster',
      15_000,
    );
  } finally {
    await Promise.all(conns.map((nc) => nc.close()));
  }
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

const NATS_TRAINER = join(import.meta.dirname, 'fixtures', 'nats-trainer.ts');

/**
 * Starts `fixtures/nats-trainer.ts` (tables on JetStream) at the service URL given, in a child process; resolves once
 * it serves.
 */
export function startNatsTrainer(url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', NATS_TRAINER, url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString('utf8').includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`trainer exited (${code}) before serving`)));
  });
}

/** SIGKILLs a child process (if it still runs) and waits for it to exit. */
export function killChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
