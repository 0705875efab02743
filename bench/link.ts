/**
 * Case set "link": camera frames over a shaped link. Two network namespaces joined by a veth pair (addresses in
 * 10.200.N.0/30, inside those namespaces only), the rate shaped by `tc ... tbf` on both ends; an inference server in
 * one namespace, four 480 × 640 cameras at 30 Hz in the other; raw tensors vs JPEG q80 vs resized to the server's
 * declared 224 × 224 JPEG. The kernel of the machine this was written on has no `netem` qdisc, so the one-way delay is
 * added by a relay in the server's namespace (bench/link-server.ts), in each direction: the round trip gains twice the
 * delay, as with netem on both veth ends. When `netem` exists it is used instead (and the relay adds nothing).
 *
 * Needs root and iproute2: says why and skips otherwise. Namespaces are deleted afterwards, also on failure and on
 * SIGINT/SIGTERM. Traffic flows only between the two namespaces.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ResultRow } from './measure.js';

/** Links measured: rate and one-way delay. */
export const LINKS = [
  { name: '100 Mbit/s + 5 ms', rate: '100mbit', delayMs: 5 },
  { name: '20 Mbit/s + 30 ms', rate: '20mbit', delayMs: 30 },
] as const;
/** Modes measured. */
export const LINK_MODES = ['raw', 'jpeg', 'small'] as const;
const MODE_NAMES: Record<(typeof LINK_MODES)[number], string> = {
  raw: 'raw tensor',
  jpeg: 'JPEG q80',
  small: "224x224 JPEG q80 (resize: 'server')",
};

const RELAY_PORT = 5600;

interface ClientResult {
  mode: string;
  delivered: number;
  dropped: number;
  failed: number;
  fpsPerCamera: number;
  p50: number;
  p99: number;
  clientCpuMsPerFrame: number;
  serverCpuMsPerFrame: number;
  frameBytes: number;
  /** JPEG mode only (null otherwise): capture to encoded, in ms. */
  encodeP50: number | null;
  encodeP99: number | null;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tc(args: string[]): void {
  execFileSync('tc', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why the set cannot run here, or `undefined`. */
function cannotRun(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root (ip netns, tc)';
  for (const tool of ['ip', 'tc']) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' });
    } catch {
      return `needs ${tool} from iproute2 (apt-get install -y iproute2)`;
    }
  }
  return undefined;
}

class Namespaces {
  readonly a: string;
  readonly b: string;
  readonly va: string;
  readonly vb: string;
  readonly serverIp: string;
  readonly clientIp: string;
  netem = false;

  constructor() {
    const n = process.pid % 250;
    this.a = `edgeml-srv-${process.pid}`;
    this.b = `edgeml-cam-${process.pid}`;
    this.va = `eml${n}a`;
    this.vb = `eml${n}b`;
    this.serverIp = `10.200.${n}.1`;
    this.clientIp = `10.200.${n}.2`;
  }

  create(): void {
    ip(['netns', 'add', this.a]);
    ip(['netns', 'add', this.b]);
    ip(['link', 'add', this.va, 'netns', this.a, 'type', 'veth', 'peer', 'name', this.vb, 'netns', this.b]);
    ip(['-n', this.a, 'addr', 'add', `${this.serverIp}/30`, 'dev', this.va]);
    ip(['-n', this.b, 'addr', 'add', `${this.clientIp}/30`, 'dev', this.vb]);
    for (const [ns, dev] of [
      [this.a, this.va],
      [this.b, this.vb],
    ] as const) {
      ip(['-n', ns, 'link', 'set', dev, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  }

  /** Shapes both directions: netem (rate and delay) when the kernel has it, else tbf (rate; the relay delays). */
  shape(rate: string, delayMs: number): void {
    for (const [ns, dev] of [
      [this.a, this.va],
      [this.b, this.vb],
    ] as const) {
      try {
        tc([
          '-n',
          ns,
          'qdisc',
          'replace',
          'dev',
          dev,
          'root',
          'netem',
          'delay',
          `${delayMs}ms`,
          'rate',
          rate,
          'limit',
          '10000',
        ]);
        this.netem = true;
      } catch {
        // A queue of 50 ms at the link rate; a burst of 64 KiB.
        tc(['-n', ns, 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', '64kb', 'latency', '50ms']);
        this.netem = false;
      }
    }
  }

  /** Packets the qdiscs of both ends have dropped so far. */
  drops(): number {
    let n = 0;
    for (const [ns, dev] of [
      [this.a, this.va],
      [this.b, this.vb],
    ] as const) {
      const out = execFileSync('tc', ['-s', '-n', ns, 'qdisc', 'show', 'dev', dev], { encoding: 'utf8' });
      n += Number(/dropped (\d+)/.exec(out)?.[1] ?? 0);
    }
    return n;
  }

  destroy(): void {
    for (const ns of [this.a, this.b]) {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  }
}

function lines(child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

/** Children still running, killed on a signal. */
const children = new Set<ChildProcess>();

function inNamespace(ns: string, script: string, args: string[]): ChildProcess {
  const file = join(import.meta.dirname, script);
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, file, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function runClient(nets: Namespaces, mode: string, seconds: number): Promise<ClientResult> {
  const child = inNamespace(nets.b, 'link-client.js', [`tcp://${nets.serverIp}:${RELAY_PORT}`, mode, String(seconds)]);
  const it = lines(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const first = await it.next();
  const code = await exited;
  if (first.done || code !== 0) throw new Error(`camera client (${mode}) failed with exit code ${code}`);
  return JSON.parse(first.value) as ClientResult;
}

/** Runs the set (about `seconds` + 2 s per link and mode); returns no rows when it cannot run here. */
export async function runLink(options: { seconds: number; progress?: (line: string) => void }): Promise<ResultRow[]> {
  const why = cannotRun();
  if (why !== undefined) {
    options.progress?.(`link: skipped: ${why}`);
    return [];
  }
  const nets = new Namespaces();
  const onSignal = (): void => {
    for (const child of children) child.kill('SIGKILL');
    nets.destroy();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rows: ResultRow[] = [];
  let server: ChildProcess;
  try {
    nets.create();
    for (const link of LINKS) {
      nets.shape(link.rate, link.delayMs);
      const relayDelay = nets.netem ? 0 : link.delayMs;
      server = inNamespace(nets.a, 'link-server.js', [nets.serverIp, String(RELAY_PORT), String(relayDelay)]);
      const ready = await lines(server).next();
      if (ready.done) throw new Error('link server did not start');
      for (const mode of LINK_MODES) {
        options.progress?.(`link: ${link.name}, ${MODE_NAMES[mode]} ...`);
        const drops0 = nets.drops();
        const r = await runClient(nets, mode, options.seconds);
        const linkDrops = nets.drops() - drops0;
        options.progress?.(
          `link:   ${r.fpsPerCamera.toFixed(1)} fps per camera, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms` +
            (r.encodeP50 === null
              ? ''
              : `; encode alone p50 ${r.encodeP50.toFixed(1)} ms, p99 ${r.encodeP99?.toFixed(1)} ms`),
        );
        rows.push({
          set: 'link',
          case: link.name,
          description: `${link.name}${nets.netem ? ' (netem)' : ' (tbf + delay relay)'}`,
          target: MODE_NAMES[mode],
          bytes: Math.round(r.frameBytes),
          count: r.delivered,
          p50: r.p50,
          p90: Number.NaN,
          p99: r.p99,
          mean: Number.NaN,
          mbPerSec: 0,
          callsPerSec: r.fpsPerCamera,
          extra: {
            encodeCpuMs: r.clientCpuMsPerFrame,
            decodeCpuMs: r.serverCpuMsPerFrame,
            dropped: r.dropped,
            linkDrops,
            failed: r.failed,
          },
        });
      }
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
  } finally {
    for (const child of children) child.kill('SIGKILL');
    nets.destroy();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return rows;
}
