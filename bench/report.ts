/**
 * Reporting: the machine a run happened on, the Markdown table, and the JSON document written by `--json`.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { ResultRow } from './roundtrip.js';

/** Where and when a run happened. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  /** 1-minute load average when the run started and ended: a hint of how noisy the figures are. */
  loadStart: number;
  loadEnd?: number;
  commit?: string;
  date: string;
}

/** Describes this machine now. */
export function machineInfo(): MachineInfo {
  const info: MachineInfo = {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadStart: loadavg()[0] ?? 0,
    date: new Date().toISOString(),
  };
  try {
    info.commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: 'pipe' }).trim();
  } catch {
    // Not a git checkout: no commit in the report.
  }
  return info;
}

function ms(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0);
}

function mb(v: number): string {
  return v < 10 ? v.toFixed(2) : v.toFixed(0);
}

function ratio(row: ResultRow): string {
  if (row.ratioToRaw === undefined) return '-';
  const r = `${row.ratioToRaw.toFixed(2)}x`;
  if (row.ceiling === undefined) return r;
  return `${r} (target <= ${row.ceiling}: ${row.ratioToRaw <= row.ceiling ? 'met' : 'missed'})`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** The results as a Markdown table, one row per target and case. */
export function markdownTable(rows: readonly ResultRow[]): string {
  const lines = [
    '| case | bytes each way | target | n | p50 ms | p99 ms | MB/s | p50 / raw |',
    '|---|---:|---|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.case} | ${bytes(r.bytes)} | ${r.target} | ${r.count} | ${ms(r.p50)} | ${ms(r.p99)} | ${mb(r.mbPerSec)} | ${ratio(r)} |`,
    );
  }
  return lines.join('\n');
}

/** Comparisons that span rows: how many times faster edgeml is than JSON over WebSocket, per case. */
export function comparisons(rows: readonly ResultRow[]): string[] {
  const out: string[] = [];
  for (const c of new Set(rows.map((r) => r.case))) {
    const edgeml = rows.find((r) => r.case === c && r.target === 'edgeml');
    const ws = rows.find((r) => r.case === c && r.target === 'ws-json');
    if (edgeml && ws) out.push(`${c}: edgeml p50 is ${(ws.p50 / edgeml.p50).toFixed(1)}x faster than ws-json`);
  }
  return out;
}

/** The machine line printed above the table. */
export function machineLine(m: MachineInfo): string {
  const load =
    m.loadEnd === undefined ? m.loadStart.toFixed(2) : `${m.loadStart.toFixed(2)} -> ${m.loadEnd.toFixed(2)}`;
  return `${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.platform}, load ${load}${m.commit ? `, commit ${m.commit}` : ''}`;
}

/** Writes the JSON document of a run. */
export function writeJson(file: string, machine: MachineInfo, options: unknown, rows: readonly ResultRow[]): void {
  writeFileSync(file, `${JSON.stringify({ machine, options, results: rows }, null, 2)}\n`);
}
