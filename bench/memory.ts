/**
 * Case set "memory": peak resident memory (RSS) of the server and of the client while a client streams 1 GiB of
 * cams4 uploads (4 calls outstanding), edgeml against raw zeromq.js sending the same frames. Server and client each
 * run in a child process of their own (memory-child.ts), so each figure is one process's; the targets run one after
 * the other, in a random order.
 *
 * @module
 */
import { clockMs, forkChild, has, nextMessage, stopChild } from './children.js';
import type { ResultRow, Summary } from './measure.js';
import type { MemoryReport } from './memory-child.js';
import { makeCase } from './payloads.js';

/** Bytes streamed per target. */
export const MEMORY_STREAM_BYTES = 1024 * 1024 * 1024;
/** Calls outstanding while streaming. */
const INFLIGHT = 4;

/** Options of the memory set. */
export interface MemoryOptions {
  raw: boolean;
  progress?: (line: string) => void;
}

interface Outcome {
  server: MemoryReport;
  client: MemoryReport;
  seconds: number;
  bytes: number;
}

async function streamOnce(target: 'edgeml' | 'raw-zmq'): Promise<Outcome> {
  const server = forkChild('memory-child', [JSON.stringify({ role: 'server', target })]);
  try {
    const { port } = await nextMessage(server, has('port'));
    const client = forkChild('memory-child', [
      JSON.stringify({ role: 'client', target, port, bytes: MEMORY_STREAM_BYTES, inflight: INFLIGHT }),
    ]);
    const t0 = clockMs();
    const done = (await nextMessage(client, has('done'), 300_000)) as { done: unknown; memory: MemoryReport };
    const wall = (clockMs() - t0) / 1000;
    await stopChild(client);
    const serverMemory = nextMessage(server, has('memory'));
    await stopChild(server);
    const d = done.done as { bytes: number; seconds: number };
    return {
      server: (await serverMemory).memory as MemoryReport,
      client: done.memory,
      seconds: d.seconds || wall,
      bytes: d.bytes,
    };
  } finally {
    await stopChild(server);
  }
}

const MB = 1024 * 1024;

/** Runs the memory set: one row per target and side. */
export async function runMemory(options: MemoryOptions): Promise<ResultRow[]> {
  const c = makeCase('cams4');
  const targets: ('edgeml' | 'raw-zmq')[] = options.raw ? ['edgeml', 'raw-zmq'] : ['edgeml'];
  if (Math.random() < 0.5) targets.reverse();
  const outcomes = new Map<string, Outcome>();
  for (const target of targets) {
    options.progress?.(`memory: ${target} streams 1 GiB of cams4 uploads ...`);
    outcomes.set(target, await streamOnce(target));
  }
  const rows: ResultRow[] = [];
  for (const side of ['server', 'client'] as const) {
    const floor = outcomes.get('raw-zmq')?.[side].peak;
    for (const target of ['edgeml', 'raw-zmq']) {
      const o = outcomes.get(target);
      if (!o) continue;
      const m = o[side];
      const none: Summary = {
        target,
        count: Math.ceil(o.bytes / c.bytes),
        p50: Number.NaN,
        p90: Number.NaN,
        p99: Number.NaN,
        mean: Number.NaN,
        mbPerSec: o.bytes / o.seconds / 1e6,
        callsPerSec: o.bytes / c.bytes / o.seconds,
      };
      const row: ResultRow = {
        set: 'memory',
        case: `1 GiB cams4 upload: ${side}`,
        description: `peak RSS of the ${side} while streaming 1 GiB of cams4 uploads, ${INFLIGHT} calls outstanding`,
        bytes: c.bytes,
        ...none,
        extra: { idleMiB: m.idle / MB, peakMiB: m.peak / MB, growthMiB: (m.peak - m.idle) / MB, seconds: o.seconds },
      };
      if (floor !== undefined) row.ratioToRaw = m.peak / floor;
      rows.push(row);
    }
  }
  return rows;
}
