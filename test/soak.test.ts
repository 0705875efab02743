/**
 * The soak run (scripts/soak.ts) as a child process: 30 seconds of mixed traffic, garbage, reconnects and server
 * restarts across the three modes must end with exit code 0 and a sane report; and its memory verdict must catch a
 * process that keeps growing.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { within } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('../scripts/soak.ts', import.meta.url));

interface Report {
  served: { inference: number; action: number; trainer: number };
  clientCallsOk: number;
  errorsByClass: Record<string, number>;
  obsDelivered: number;
  weightsDelivered: number;
  garbageSent: number;
  malformedSeenByServers: number;
  clientsCreated: number;
  restarts: number;
  peakRssMb: number;
  samples: number;
  problems: string[];
  verdict: string;
}

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function soak(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; report: Report; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--json', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await within(
    new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c))),
    timeoutMs,
    'the soak run to exit',
  );
  const line = stdout.split('\n').find((l) => l.startsWith('SOAK_REPORT '));
  if (!line) throw new Error(`no report; stdout: ${stdout}; stderr: ${stderr}`);
  return { code, report: JSON.parse(line.slice('SOAK_REPORT '.length)) as Report, stderr };
}

describe('soak', () => {
  it('30 s of mixed traffic, garbage, reconnects and restarts: exit 0, a sane report', {
    timeout: 120_000,
  }, async () => {
    const { code, report, stderr } = await soak(['--seconds', '30', '--max-rss-mb', '1024'], 100_000);
    expect(report.problems).toEqual([]);
    expect(report.verdict).toBe('PASS');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    // Every mode did real work (generous floors: a loaded 2-core machine still does thousands).
    expect(report.served.inference).toBeGreaterThan(100);
    expect(report.served.action).toBeGreaterThan(100);
    expect(report.served.trainer).toBeGreaterThan(100);
    expect(report.obsDelivered).toBeGreaterThan(0);
    expect(report.weightsDelivered).toBeGreaterThan(0);
    // The faults happened: garbage reached the servers, clients were replaced, servers restarted.
    expect(report.garbageSent).toBeGreaterThan(10);
    expect(report.malformedSeenByServers).toBeGreaterThan(0);
    expect(report.clientsCreated).toBeGreaterThan(7);
    expect(report.restarts).toBeGreaterThanOrEqual(2);
    // Deliberate failures arrive as the classes the API documents; nothing else but deadlines and closes.
    expect(report.errorsByClass.RemoteError).toBeGreaterThan(0);
    expect(report.errorsByClass.NotFoundError).toBeGreaterThan(0);
    const allowed = ['RemoteError', 'NotFoundError', 'ClosedError', 'TimeoutError', 'LimitError'];
    expect(Object.keys(report.errorsByClass).filter((k) => !allowed.includes(k))).toEqual([]);
    expect(report.samples).toBeGreaterThanOrEqual(25);
    expect(report.peakRssMb).toBeLessThan(1024);
  });

  it('the memory verdict fails a run whose memory keeps growing', { timeout: 60_000 }, async () => {
    const { code, report } = await soak(['--seconds', '9', '--simulate-leak-mb', '64'], 50_000);
    expect(report.problems).toContain('memory keeps growing');
    expect(report.verdict).toBe('FAIL');
    expect(code).toBe(1);
  });
});
