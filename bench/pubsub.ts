/**
 * Case sets "broadcast" and "stream": an edgeml {@link Publisher} against a raw zeromq.js PUB socket sending the same
 * frames, to subscribers in a child process (subscriber-child.ts; its own ZeroMQ I/O thread and heap, as another
 * machine would have). Both publishers and both sets of subscribers stay connected through a case; the targets take
 * turns, in a random order each round.
 *
 * - broadcast: 100 MiB of float32 weights to 1, 4 and 8 subscribers; the time from publishing until every subscriber
 *   has the message, and the MB/s that makes (payload bytes times subscribers over that time).
 * - stream: cams4 observations published at 30 Hz to 4 subscribers, in alternating one-second segments; the rate
 *   each subscriber gets them at and the latency from publishing to the subscriber's callback.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import * as zmq from 'zeromq';
import { tcpEndpoint } from '../src/core/endpoint.js';
import { Publisher, serveLatest } from '../src/messaging/broadcast.js';
import { RpcServer } from '../src/messaging/rpc-server.js';
import { ZmqTransport } from '../src/transport/zmq/zmq-transport.js';
import type { Frame } from '../src/wire/codec.js';
import { encodePublish } from '../src/wire/envelopes.js';
import { SOCKET_OPTIONS } from './baseline-zmq.js';
import { clockMs, forkChild, stopChild } from './children.js';
import { quantile, type ResultRow, summarise } from './measure.js';
import { makeCase, weights } from './payloads.js';
import type { Got } from './subscriber-child.js';
import { HOST } from './target-edgeml.js';

/** Ceiling on edgeml's time to deliver 100 MiB to every subscriber over the raw floor's (issue 6). */
export const BROADCAST_TARGET = 1.1;
/** Subscriber counts of the broadcast set. */
export const BROADCAST_SUBSCRIBERS = [1, 4, 8] as const;
/** Publishing rate of the stream set, in Hz. */
export const STREAM_HZ = 30;
/** Subscribers of the stream set. */
export const STREAM_SUBSCRIBERS = 4;
/** Longest wait for a message to reach every subscriber. */
const DELIVERY_TIMEOUT_MS = 30_000;

type Target = 'edgeml' | 'raw-zmq';

function isGot(m: unknown): m is Got {
  return typeof m === 'object' && m !== null && 'got' in m;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Both publishers and a child with `subs` subscribers of each kind, all connected and warmed up. */
class PubSubRig {
  readonly publisher = new Publisher();
  /** Serves the publisher's latest values to late joiners, as every mode server does. */
  private readonly latest = new RpcServer();
  readonly raw = new zmq.Publisher({ ...SOCKET_OPTIONS, sendHighWaterMark: 1000 });
  private child: ChildProcess | undefined;
  private readonly listeners = new Set<(g: Got) => void>();
  private rawSending: Promise<void> = Promise.resolve();

  constructor(
    readonly subs: number,
    readonly topic: string,
  ) {}

  async open(): Promise<void> {
    const transport = new ZmqTransport();
    const [edgemlPort] = await this.publisher.start([{ transport, endpoint: tcpEndpoint(HOST, 0) }]);
    serveLatest(this.latest, this.publisher);
    const [latestPort] = await this.latest.start([{ transport, endpoint: tcpEndpoint(HOST, 0) }]);
    await this.raw.bind(`tcp://${HOST}:0`);
    const endpoint = this.raw.lastEndpoint ?? '';
    const rawPort = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
    // A late joiner fetches the edgeml publisher's latest message at once (over its request connection); raw PUB/SUB
    // drops what is sent before a subscription arrives, so the raw hello is repeated until every raw subscriber has one.
    this.publisher.publish(this.topic, { hello: true });
    const ready = { edgeml: new Set<number>(), 'raw-zmq': new Set<number>() };
    const allReady = new Promise<void>((resolve) => {
      const on = (g: Got): void => {
        ready[g.got].add(g.sub);
        if (ready.edgeml.size === this.subs && ready['raw-zmq'].size === this.subs) {
          this.listeners.delete(on);
          resolve();
        }
      };
      this.listeners.add(on);
    });
    const child = forkChild('subscriber-child', [
      JSON.stringify({ edgemlPort, latestPort, rawPort, subs: this.subs, topic: this.topic }),
    ]);
    this.child = child;
    child.on('message', (m: unknown) => {
      if (isGot(m)) for (const l of [...this.listeners]) l(m);
    });
    let done = false;
    void allReady.then(() => {
      done = true;
    });
    const deadline = performance.now() + DELIVERY_TIMEOUT_MS;
    while (!done) {
      if (performance.now() > deadline) throw new Error('subscribers did not connect');
      if (child.exitCode !== null) throw new Error('subscriber child exited');
      await this.sendRaw([Buffer.from('hello')]);
      await Promise.race([allReady, new Promise((r) => setTimeout(r, 20))]);
    }
  }

  /** Sends `frames` on the raw PUB socket after a stamp frame holding the time now. */
  sendRaw(frames: Frame[]): Promise<void> {
    const stamp = Buffer.alloc(8);
    stamp.writeDoubleLE(clockMs(), 0);
    this.rawSending = this.rawSending.then(() => this.raw.send([this.topic, stamp, ...frames]));
    return this.rawSending;
  }

  /** Calls `on` with every report until it returns true; resolves then (rejects after the timeout). */
  until(on: (g: Got) => boolean, timeoutMs = DELIVERY_TIMEOUT_MS): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`deliveries did not arrive within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (g: Got): void => {
        if (!on(g)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
    });
  }

  /** Listens to every report until the returned function is called. */
  listen(on: (g: Got) => void): () => void {
    this.listeners.add(on);
    return () => this.listeners.delete(on);
  }

  async close(): Promise<void> {
    if (this.child) await stopChild(this.child);
    await this.rawSending.catch(() => undefined);
    this.raw.close();
    await this.publisher.stop();
    await this.latest.stop();
  }
}

/** Options of the broadcast set. */
export interface BroadcastOptions {
  /** Deliveries per target and subscriber count. */
  trials: number;
  raw: boolean;
  progress?: (line: string) => void;
}

/** Runs the broadcast set: one row per target and subscriber count. */
export async function runBroadcast(options: BroadcastOptions): Promise<ResultRow[]> {
  const tensor = weights(100);
  const payload = { w: tensor };
  const rows: ResultRow[] = [];
  for (const subs of BROADCAST_SUBSCRIBERS) {
    options.progress?.(`broadcast 100 MiB to ${subs} subscriber${subs > 1 ? 's' : ''} ...`);
    const rig = new PubSubRig(subs, 'weights');
    const times: Record<Target, number[]> = { edgeml: [], 'raw-zmq': [] };
    const targets: Target[] = options.raw ? ['edgeml', 'raw-zmq'] : ['edgeml'];
    try {
      await rig.open();
      // No untimed warm-up delivery: moving 100 MiB is the kernel's and the allocator's work, not compiled code's,
      // and each delivery takes seconds.
      for (let trial = 0; trial < options.trials; trial++) {
        for (const target of shuffled(targets)) {
          const have = new Set<number>();
          let last = 0;
          const delivered = rig.until((g) => {
            if (g.got !== target || g.bytes < tensor.byteLength) return false;
            have.add(g.sub);
            last = Math.max(last, g.t);
            return have.size === subs;
          });
          const t0 = clockMs();
          if (target === 'edgeml') rig.publisher.publish(rig.topic, payload);
          else void rig.sendRaw(encodePublish(rig.topic, trial + 2, 'raw', payload));
          await delivered;
          times[target].push(last - t0);
        }
      }
    } finally {
      await rig.close();
    }
    const floor = times['raw-zmq'].length ? summarise('raw-zmq', times['raw-zmq'], 0).p50 : undefined;
    for (const target of targets) {
      const s = summarise(target, times[target], tensor.byteLength * subs, 1);
      const row: ResultRow = {
        set: 'broadcast',
        case: `100mb to ${subs}`,
        description: `float32 weights, 100 MiB, to ${subs} subscriber${subs > 1 ? 's' : ''}`,
        bytes: tensor.byteLength,
        ...s,
        extra: { subscribers: subs },
      };
      if (floor !== undefined) {
        row.extra = { ...row.extra, p50Ratio: s.p50 / floor };
        // Paired: each trial delivered with both targets, one right after the other; the median of their ratios.
        const ratios = times[target].map((t, i) => t / (times['raw-zmq'][i] ?? Number.NaN));
        row.ratioToRaw = quantile(Float64Array.from(ratios).sort(), 0.5);
      }
      if (target === 'edgeml') row.ceiling = BROADCAST_TARGET;
      rows.push(row);
    }
  }
  return rows;
}

/** Options of the stream set. */
export interface StreamOptions {
  /** Streaming time per target, in seconds. */
  seconds: number;
  raw: boolean;
  progress?: (line: string) => void;
}

/** Publishes `publish(i)` at {@link STREAM_HZ} for `ms` milliseconds, on a schedule that does not drift. */
async function paced(ms: number, publish: (i: number) => void): Promise<number> {
  const period = 1000 / STREAM_HZ;
  const start = performance.now();
  let i = 0;
  for (; i * period < ms; i++) {
    const wait = start + i * period - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    publish(i);
  }
  return i;
}

/** Runs the stream set: one row per target. */
export async function runStream(options: StreamOptions): Promise<ResultRow[]> {
  const c = makeCase('cams4');
  const base = c.payload as Record<string, unknown>;
  const subs = STREAM_SUBSCRIBERS;
  const rig = new PubSubRig(subs, 'obs');
  const targets: Target[] = options.raw ? ['edgeml', 'raw-zmq'] : ['edgeml'];
  const latency: Record<Target, number[]> = { edgeml: [], 'raw-zmq': [] };
  const sent: Record<Target, number> = { edgeml: 0, 'raw-zmq': 0 };
  const got: Record<Target, number> = { edgeml: 0, 'raw-zmq': 0 };
  const segmentMs = 1000;
  options.progress?.(`stream cams4 at ${STREAM_HZ} Hz to ${subs} subscribers ...`);
  try {
    await rig.open();
    const rawFrames = encodePublish(rig.topic, 1, 'raw', base);
    const stop = rig.listen((g) => {
      if (g.sent === undefined || g.bytes < 1000) return;
      got[g.got]++;
      latency[g.got].push(g.t - g.sent);
    });
    const segments = Math.max(1, Math.round(options.seconds));
    for (let s = -1; s < segments; s++) {
      for (const target of shuffled(targets)) {
        const before = got[target];
        const n = await paced(segmentMs, () => {
          if (target === 'edgeml') rig.publisher.publish(rig.topic, { ...base, t: clockMs() });
          else void rig.sendRaw(rawFrames);
        });
        // Let the segment's last messages arrive before the other target starts.
        await rig.until(() => got[target] - before >= n * subs, 2_000).catch(() => undefined);
        if (s < 0) {
          // Warm-up segment: not counted.
          got[target] = before;
          latency[target].length = 0;
        } else sent[target] += n;
      }
    }
    stop();
  } finally {
    await rig.close();
  }
  const floor = latency['raw-zmq'].length ? summarise('raw-zmq', latency['raw-zmq'], 0).p50 : undefined;
  return targets.map((target) => {
    const seconds = sent[target] / STREAM_HZ;
    const s = summarise(target, latency[target], c.bytes, 1);
    const row: ResultRow = {
      set: 'stream',
      case: `cams4 ${STREAM_HZ} Hz to ${subs}`,
      description: `${c.description} at ${STREAM_HZ} Hz to ${subs} subscribers`,
      bytes: c.bytes,
      ...s,
      // Per subscriber: messages a second, and the share of published messages it got.
      callsPerSec: seconds > 0 ? got[target] / subs / seconds : 0,
      mbPerSec: seconds > 0 ? (got[target] * c.bytes) / seconds / 1e6 : 0,
      extra: { published: sent[target], delivered: got[target], subscribers: subs },
    };
    if (floor !== undefined) row.ratioToRaw = s.p50 / floor;
    return row;
  });
}
