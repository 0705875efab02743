/**
 * Child processes for the fault-injection suite: spawns a fixture under `node --import tsx`, collects its stdout
 * lines, waits for lines with deadlines, writes commands to its stdin, and kills it.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor, within } from '../helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A running fixture. */
export interface Fixture {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Every complete stdout line so far. */
  readonly lines: string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the first line (from the start) that `match` accepts. */
  line(match: (line: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** Writes one line to the child's stdin. */
  send(line: string): void;
  /** Kills with SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Ends stdin (the fixtures then stop and exit on their own) and resolves with the exit code. */
  end(timeoutMs?: number): Promise<number | null>;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

/** Starts `test/fixtures/<name>` with `args`. Register `kill` for cleanup. */
export function startFixture(name: string, args: (string | number)[]): Fixture {
  const path = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', path, ...args.map(String)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  proc.stdin.on('error', () => {});
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const running = (): boolean => proc.exitCode === null && proc.signalCode === null;
  return {
    proc,
    lines,
    exited,
    stderr: () => stderr,
    async line(match, what, timeoutMs = 20_000) {
      let found: string | undefined;
      await waitFor(
        () => {
          found = lines.find(match);
          if (found === undefined && !running()) throw new Error(`${name} exited before ${what}; stderr: ${stderr}`);
          return found !== undefined;
        },
        `${name}: ${what} (stderr: ${stderr})`,
        timeoutMs,
      );
      return found!;
    },
    send(line) {
      proc.stdin.write(`${line}\n`);
    },
    async kill() {
      if (running()) proc.kill('SIGKILL');
      await within(exited, 10_000, `${name} to die`);
    },
    async end(timeoutMs = 10_000) {
      proc.stdin.end();
      return within(exited, timeoutMs, `${name} to exit after its stdin ended`);
    },
  };
}

/** Starts a fault-server fixture and resolves with it and the ports of its `ready` line. */
export async function startServer(args: (string | number)[]): Promise<{ server: Fixture; ports: number[] }> {
  const server = startFixture('fault-server.ts', args);
  try {
    const ready = await server.line((l) => l.startsWith('ready '), 'ready');
    return { server, ports: ready.split(' ').slice(1).map(Number) };
  } catch (e) {
    await server.kill();
    throw e;
  }
}
