/**
 * Child process of the memory set: one side of a 1 GiB upload stream, edgeml or raw zeromq.js, in a process of its
 * own so that its resident memory is its own. Samples its RSS every 10 ms; the peak is the larger of the samples and
 * the kernel's high-water mark (VmHWM).
 *
 * Arguments: one JSON object `{ role: 'server' | 'client', target: 'edgeml' | 'raw-zmq', port?, bytes?, inflight? }`.
 * A server reports `{ port }` when listening and `{ memory }` when asked to stop; a client streams `bytes` bytes of
 * cams4 uploads with `inflight` calls outstanding and reports `{ done, memory }`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type * as zmq from 'zeromq';
import { rawDealer, requestFrames, startRawServers } from './baseline-zmq.js';
import { clockMs, onParentStop, toParent } from './children.js';
import { makeCase } from './payloads.js';
import { edgemlClient, startEdgemlServer } from './target-edgeml.js';

/** Resident memory of a process during the stream, in bytes. */
export interface MemoryReport {
  /** RSS when ready, before the stream. */
  idle: number;
  /** Highest RSS seen. */
  peak: number;
  samples: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as {
  role: 'server' | 'client';
  target: 'edgeml' | 'raw-zmq';
  port?: number;
  bytes?: number;
  inflight?: number;
};

function highWaterMark(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

let peak = 0;
let samples = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
  samples++;
}, 10);
let idle = 0;

function memory(): MemoryReport {
  clearInterval(sampler);
  return { idle, peak: Math.max(peak, process.memoryUsage.rss(), highWaterMark()), samples };
}

if (args.role === 'server') {
  let close: () => Promise<void>;
  let port: number;
  if (args.target === 'edgeml') {
    const s = await startEdgemlServer();
    port = s.port;
    close = s.close;
  } else {
    const s = await startRawServers();
    port = s.upload;
    close = s.close;
  }
  onParentStop(async () => {
    const m = memory();
    await close();
    await toParent({ memory: m });
  });
  idle = process.memoryUsage.rss();
  void toParent({ port });
} else {
  const c = makeCase('cams4');
  const port = args.port ?? 0;
  const total = args.bytes ?? 1024 * 1024 * 1024;
  const inflight = args.inflight ?? 4;
  const calls = Math.ceil(total / c.bytes);
  let call: () => Promise<unknown>;
  let close: () => void;
  if (args.target === 'edgeml') {
    const client = edgemlClient(port);
    call = () => client.call('upload', c.payload);
    close = () => client.close();
  } else {
    // One DEALER, like the edgeml client: sends one after the other (zeromq.js allows one pending send), replies
    // in order from the one server.
    const dealer: zmq.Dealer = rawDealer(port);
    const frames = requestFrames(c, 'upload');
    const waiting: (() => void)[] = [];
    void (async () => {
      for (;;) {
        try {
          await dealer.receive();
        } catch {
          return;
        }
        waiting.shift()?.();
      }
    })();
    let sending: Promise<void> = Promise.resolve();
    call = () =>
      new Promise<void>((resolve, reject) => {
        waiting.push(resolve);
        sending = sending.then(() => dealer.send(frames)).catch(reject);
      });
    close = () => dealer.close();
  }
  await call(); // connected
  idle = process.memoryUsage.rss();
  const start = clockMs();
  let started = 1;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (started < calls) {
        started++;
        await call();
      }
    }),
  );
  const seconds = (clockMs() - start) / 1000;
  const m = memory();
  close();
  void toParent({ done: { calls, bytes: calls * c.bytes, seconds }, memory: m });
  onParentStop(() => undefined);
}
