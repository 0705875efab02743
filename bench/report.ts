/**
 * Reporting: the machine a run happened on, one Markdown table per case set, the targets met or missed, and the JSON
 * document written by `--json`.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { ResultRow } from './measure.js';
import { WS_SPEEDUP_TARGET } from './roundtrip.js';

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
  /** `GLIBC_TUNABLES` of the run, if set (it changes the large cases: docs/performance.md). */
  glibcTunables?: string;
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
  if (process.env.GLIBC_TUNABLES) info.glibcTunables = process.env.GLIBC_TUNABLES;
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

function num(v: number | string | undefined, digits = 1): string {
  if (typeof v === 'string') return v;
  if (v === undefined || !Number.isFinite(v)) return '-';
  return v < 10 && digits > 0 ? v.toFixed(digits + 1) : v.toFixed(v < 100 ? digits : 0);
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function ratio(row: ResultRow): string {
  if (row.ratioToRaw === undefined) return '-';
  const r = `${row.ratioToRaw.toFixed(2)}x`;
  if (row.ceiling === undefined) return r;
  return `${r} (target <= ${row.ceiling}: ${row.ratioToRaw <= row.ceiling ? 'met' : 'missed'})`;
}

function x(row: ResultRow, key: string): number | string | undefined {
  return row.extra?.[key];
}

interface Column {
  header: string;
  right?: boolean;
  cell: (r: ResultRow) => string;
}

const CASE: Column = { header: 'case', cell: (r) => r.case };
const TARGET: Column = { header: 'target', cell: (r) => r.target };
const N: Column = { header: 'n', right: true, cell: (r) => String(r.count) };
const P50: Column = { header: 'p50 ms', right: true, cell: (r) => ms(r.p50) };
const P99: Column = { header: 'p99 ms', right: true, cell: (r) => ms(r.p99) };
const MBS: Column = { header: 'MB/s', right: true, cell: (r) => num(r.mbPerSec, 0) };
const RATIO: Column = { header: 'vs raw', cell: ratio };
const P50_RATIO: Column = {
  header: 'p50 / raw p50',
  right: true,
  cell: (r) => (x(r, 'p50Ratio') === undefined ? '-' : `${Number(x(r, 'p50Ratio')).toFixed(2)}x`),
};
const us = (key: string, header: string): Column => ({ header, right: true, cell: (r) => num(x(r, key), 2) });

/** The columns of every echo round-trip set. */
const ROUND_TRIP_COLUMNS: Column[] = [
  CASE,
  { header: 'bytes each way', right: true, cell: (r) => bytes(r.bytes) },
  TARGET,
  N,
  P50,
  P99,
  MBS,
  P50_RATIO,
  RATIO,
];

/** Per set: its title, how it is measured (one line), and its columns. */
const SET_TABLES: Record<string, { title: string; method: string; columns: Column[] }> = {
  codec: {
    title: 'Codec cost per message (hot loop, no sockets)',
    method: 'Median of 15 batches of 2000 calls; microseconds per call.',
    columns: [
      CASE,
      us('encodeRequest', 'encode request µs'),
      us('decodeRequest', 'decode request µs'),
      us('encodeReply', 'encode reply µs'),
      us('decodeReply', 'decode reply µs'),
      us('totalUs', 'round trip total µs'),
    ],
  },
  roundtrip: {
    title: 'Request/reply round trip (echo, one client, one call at a time)',
    method:
      'edgeml and raw-zmq interleaved in batches of about 20 ms, then ws-json. "vs raw": for edgeml the paired ratio (median over rounds of its batch median over the raw-zmq batch median of the same round), for ws-json p50 over raw-zmq p50.',
    columns: ROUND_TRIP_COLUMNS,
  },
  websocket: {
    title: 'Request/reply round trip over WebSocket (echo, one client, one call at a time)',
    method:
      'edgeml over ws:// and raw-ws (a raw npm ws client sending the same WebSocket message bytes to a raw ws echo) interleaved in batches of about 20 ms; servers where the request/reply servers are (a child process unless --in-process). "vs raw": for edgeml-ws the paired ratio.',
    columns: ROUND_TRIP_COLUMNS,
  },
  browser: {
    title: 'Round trip from Chromium to Node over WebSocket (echo, one call at a time)',
    method:
      "A page in headless Chromium: edgeml/browser's InferenceClient, and the page's WebSocket sending the same message bytes to a raw ws echo, in alternating batches of about 40 ms. \"vs raw\": for edgeml-browser the median over rounds of its batch median over the floor's.",
    columns: ROUND_TRIP_COLUMNS,
  },
  'browser-codecs': {
    title: "The page's own image codecs (Chromium, one 480x640 frame at a time)",
    method:
      'Medians of 40 after 5 of warm-up; bytes: the JPEG of the frame. WebCodecs has no image encoder: only ImageDecoder.',
    columns: [
      CASE,
      TARGET,
      { header: 'JPEG bytes', right: true, cell: (r) => String(r.bytes) },
      N,
      P50,
      { header: 'p90 ms', right: true, cell: (r) => ms(r.p90) },
    ],
  },
  upload: {
    title: 'Upload (payload up, small acknowledgement back, one client, one call at a time)',
    method:
      'edgeml and raw-zmq interleaved in batches of about 20 ms. MB/s counts the upload only. "vs raw": paired ratio, as above.',
    columns: [
      CASE,
      { header: 'bytes up', right: true, cell: (r) => bytes(r.bytes) },
      TARGET,
      N,
      P50,
      P99,
      MBS,
      P50_RATIO,
      RATIO,
    ],
  },
  throughput: {
    title: 'Throughput (echo, N clients each calling back to back)',
    method: 'Alternating 250 ms windows. "vs raw": raw-zmq calls/s over this target\'s (time per call).',
    columns: [
      CASE,
      TARGET,
      N,
      { header: 'calls/s', right: true, cell: (r) => num(r.callsPerSec, 0) },
      P50,
      P99,
      MBS,
      RATIO,
    ],
  },
  broadcast: {
    title: 'Broadcast of 100 MiB weights (time until every subscriber has them)',
    method:
      'Subscribers in a child process; in each trial both targets deliver, one after the other in a random order. MB/s: 100 MiB x subscribers over the time. "vs raw": paired (median over trials of the ratio of the two times).',
    columns: [CASE, TARGET, N, P50, { header: 'max ms', right: true, cell: (r) => ms(r.p99) }, MBS, P50_RATIO, RATIO],
  },
  stream: {
    title: 'Observation streaming (cams4 at 30 Hz)',
    method:
      'Subscribers in a child process; alternating one-second segments. Latency: publish call to subscriber callback.',
    columns: [
      CASE,
      TARGET,
      {
        header: 'delivered / sent',
        right: true,
        cell: (r) => `${x(r, 'delivered')} / ${Number(x(r, 'published')) * Number(x(r, 'subscribers'))}`,
      },
      { header: 'rate per subscriber Hz', right: true, cell: (r) => num(r.callsPerSec, 1) },
      { header: 'latency p50 ms', right: true, cell: (r) => ms(r.p50) },
      { header: 'latency p99 ms', right: true, cell: (r) => ms(r.p99) },
      RATIO,
    ],
  },
  memory: {
    title: 'Memory while streaming 1 GiB of cams4 uploads (server and client in separate processes)',
    method: 'RSS sampled every 10 ms, peak including the kernel high-water mark. "vs raw": peak over raw-zmq peak.',
    columns: [
      CASE,
      TARGET,
      { header: 'idle MiB', right: true, cell: (r) => num(x(r, 'idleMiB'), 0) },
      { header: 'peak MiB', right: true, cell: (r) => num(x(r, 'peakMiB'), 0) },
      { header: 'growth MiB', right: true, cell: (r) => num(x(r, 'growthMiB'), 0) },
      { header: 'MB/s', right: true, cell: (r) => num(r.mbPerSec, 0) },
      RATIO,
    ],
  },
  images: {
    title: 'Image codecs (one 480x640x3 camera frame at a time, JPEG quality 80)',
    method:
      'Synthetic scene (gradients, edges, sensor noise), 40 frames after 5 of warm-up. CPU: the whole process (main thread, libvips threads, worker) per frame.',
    columns: [
      CASE,
      TARGET,
      { header: 'bytes out', right: true, cell: (r) => String(r.bytes) },
      P50,
      { header: 'p90 ms', right: true, cell: (r) => ms(r.p90) },
      { header: 'CPU ms/frame', right: true, cell: (r) => num(x(r, 'cpuMs'), 2) },
    ],
  },
  link: {
    title: 'Camera frames over a shaped link (4 cameras, 480x640, 30 Hz, two network namespaces)',
    method:
      'Inference server in one namespace, four camera clients in the other (one process), veth pair shaped with tc on both ends (tbf for the rate, and a relay in the server namespace for the one-way delay in each direction where the kernel has no netem). At most 3 calls out per camera: a frame captured while 3 are out is dropped (not queued). Latency: capture to reply, encoding included. Client CPU: encoding and sending; server CPU: receiving and decoding (whole processes, per delivered frame).',
    columns: [
      CASE,
      TARGET,
      { header: 'bytes/frame', right: true, cell: (r) => String(r.bytes) },
      { header: 'fps per camera', right: true, cell: (r) => num(r.callsPerSec, 1) },
      P50,
      P99,
      { header: 'frames dropped', right: true, cell: (r) => String(x(r, 'dropped')) },
      { header: 'packets dropped by tc', right: true, cell: (r) => String(x(r, 'linkDrops')) },
      { header: 'client CPU ms/frame', right: true, cell: (r) => num(x(r, 'encodeCpuMs'), 2) },
      { header: 'server CPU ms/frame', right: true, cell: (r) => num(x(r, 'decodeCpuMs'), 2) },
    ],
  },
  batching: {
    title: 'Dynamic batching with a real model (32 concurrent clients, TensorFlow.js on the CPU)',
    method: 'Server in a child process; the two interfaces in alternating windows. Batches formed while measuring.',
    columns: [
      CASE,
      TARGET,
      N,
      { header: 'calls/s', right: true, cell: (r) => num(r.callsPerSec, 0) },
      P50,
      P99,
      { header: 'speedup', right: true, cell: (r) => `${Number(x(r, 'speedup')).toFixed(2)}x` },
      {
        header: 'batches (mean size; most frequent size:count)',
        cell: (r) =>
          x(r, 'batches') === undefined ? '-' : `${x(r, 'batches')} (${num(x(r, 'meanBatch'), 1)}; ${x(r, 'sizes')})`,
      },
    ],
  },
};

/** The Markdown table of the rows of one set. */
export function markdownTable(set: string, rows: readonly ResultRow[]): string {
  const spec = SET_TABLES[set];
  if (!spec) throw new Error(`no table for set ${set}`);
  const lines = [
    `| ${spec.columns.map((c) => c.header).join(' | ')} |`,
    `|${spec.columns.map((c) => (c.right ? '---:' : '---')).join('|')}|`,
  ];
  for (const r of rows) lines.push(`| ${spec.columns.map((c) => c.cell(r)).join(' | ')} |`);
  return lines.join('\n');
}

/** The report of a run: one section per set present in `rows`, then the targets. */
export function markdownReport(machine: MachineInfo, rows: readonly ResultRow[], heading: string): string {
  const out = [heading, '', machineLine(machine)];
  for (const set of Object.keys(SET_TABLES)) {
    const these = rows.filter((r) => r.set === set);
    if (these.length === 0) continue;
    const spec = SET_TABLES[set]!;
    out.push('', `### ${spec.title}`, '', spec.method, '', markdownTable(set, these));
  }
  const targets = targetLines(rows);
  if (targets.length > 0) out.push('', '### Targets (issue 6)', '', ...targets.map((l) => `- ${l}`));
  return out.join('\n');
}

/** One line per issue-6 target present in `rows`: met or missed, and by how much. */
export function targetLines(rows: readonly ResultRow[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (r.target !== 'edgeml' || r.ceiling === undefined || r.ratioToRaw === undefined) continue;
    const verdict =
      r.ratioToRaw <= r.ceiling ? 'met' : `missed by ${((r.ratioToRaw / r.ceiling - 1) * 100).toFixed(1)}%`;
    out.push(`${r.set} ${r.case}: ${r.ratioToRaw.toFixed(3)}x the raw floor (target <= ${r.ceiling}): ${verdict}`);
  }
  for (const c of new Set(rows.filter((r) => r.set === 'roundtrip').map((r) => r.case))) {
    const edgeml = rows.find((r) => r.set === 'roundtrip' && r.case === c && r.target === 'edgeml');
    const ws = rows.find((r) => r.set === 'roundtrip' && r.case === c && r.target === 'ws-json');
    if (!edgeml || !ws) continue;
    const speedup = ws.p50 / edgeml.p50;
    const goal =
      c === 'cams4' ? ` (target >= ${WS_SPEEDUP_TARGET}x: ${speedup >= WS_SPEEDUP_TARGET ? 'met' : 'missed'})` : '';
    out.push(`roundtrip ${c}: edgeml p50 is ${speedup.toFixed(1)}x faster than ws-json${goal}`);
  }
  return out;
}

/** The machine line printed above the tables. */
export function machineLine(m: MachineInfo): string {
  const load =
    m.loadEnd === undefined ? m.loadStart.toFixed(2) : `${m.loadStart.toFixed(2)} -> ${m.loadEnd.toFixed(2)}`;
  const tunables = m.glibcTunables ? `, GLIBC_TUNABLES=${m.glibcTunables}` : '';
  return `${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.platform}, load ${load}${m.commit ? `, commit ${m.commit}` : ''}${tunables}`;
}

/** Writes the JSON document of a run. */
export function writeJson(file: string, machine: MachineInfo, options: unknown, rows: readonly ResultRow[]): void {
  writeFileSync(file, `${JSON.stringify({ machine, options, results: rows }, null, 2)}\n`);
}
