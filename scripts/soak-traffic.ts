/**
 * The traffic of the soak run (scripts/soak.ts): clients of the three modes with mixed calls (small and tensor
 * payloads, observations and actions, train steps, custom requests, deliberate failures), closed and created again
 * every few hundred calls; and garbage (raw TCP junk, malformed ZeroMQ frames, short-lived subscribers). Every outcome
 * goes to a {@link Tally}: successes by operation, errors by class, and anything unexpected.
 */
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import * as zmq from 'zeromq';
import { ActionClient, EdgeMLError, InferenceClient, Tensor, TrainerClient } from '../src/index.js';
import { encodeRequest } from '../src/wire/envelopes.js';
import { ACTION_KEYS, type SoakServers } from './soak-servers.js';

const HOST = '127.0.0.1';
/** Errors an ordinary call may meet while servers restart under load; anything else is unexpected. */
const ALLOWED = ['TimeoutError', 'LimitError'];

/** Outcomes of every operation. */
export class Tally {
  readonly ok = new Map<string, number>();
  readonly errors = new Map<string, number>();
  readonly unexpected: string[] = [];
  unexpectedCount = 0;
  reconnects = 0;
  garbage = 0;
  obsDelivered = 0;
  weightsDelivered = 0;

  /** Records something that should not have happened. */
  fail(what: string): void {
    this.unexpectedCount++;
    if (this.unexpected.length < 50) this.unexpected.push(what);
  }

  /**
   * Runs `op`. `check` validates a result; `expect` names the error class a deliberate failure must have (a success
   * is then unexpected, unless `mayPass`).
   */
  async run(
    kind: string,
    op: () => Promise<unknown>,
    options: { check?: (v: unknown) => boolean; expect?: string; mayPass?: boolean } = {},
  ): Promise<void> {
    try {
      const v = await op();
      if (options.expect !== undefined && !options.mayPass) this.fail(`${kind}: succeeded, expected ${options.expect}`);
      else if (options.check && !options.check(v)) this.fail(`${kind}: wrong answer`);
      else this.ok.set(kind, (this.ok.get(kind) ?? 0) + 1);
    } catch (e) {
      const name = e instanceof Error ? e.name : typeof e;
      this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
      const fine = e instanceof EdgeMLError && (name === options.expect || ALLOWED.includes(name));
      if (!fine) this.fail(`${kind}: ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/** What the drivers share. */
export interface Soak {
  servers: SoakServers;
  tally: Tally;
  running: () => boolean;
}

const pause = (): Promise<unknown> => delay(1 + Math.random() * 4);
const callsPerClient = (): number => 20 + Math.floor(Math.random() * 300);

function floats(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random();
  return a;
}

/** One inference client after another, each for a few hundred calls. */
export async function inferenceDriver({ servers, tally, running }: Soak): Promise<void> {
  let token = 0;
  while (running()) {
    const client = new InferenceClient(HOST, servers.inference.port, { timeoutMs: 3_000 });
    tally.reconnects++;
    for (let i = callsPerClient(); i > 0 && running(); i--) {
      const r = Math.random();
      if (r < 0.45) {
        const t = `t${token++}`;
        await tally.run('inference.echo', () => client.call('echo', { t }), {
          check: (v) => (v as { t?: string }).t === t,
        });
      } else if (r < 0.8) {
        const x = floats(4096);
        let s = 0;
        for (const v of x) s += v;
        await tally.run('inference.sum', () => client.call('sum', new Tensor('float32', x, [64, 64])), {
          check: (v) => v === s,
        });
      } else if (r < 0.88) {
        const data = randomBytes(256 * 1024);
        await tally.run('inference.bytes', () => client.call('echo', data), {
          check: (v) => v instanceof Uint8Array && Buffer.compare(v, data) === 0,
        });
      } else if (r < 0.94) {
        await tally.run('inference.fail', () => client.call('fail', null), { expect: 'RemoteError' });
      } else {
        await tally.run('inference.missing', () => client.call('missing', null), { expect: 'NotFoundError' });
      }
      await pause();
    }
    // Now and then the client is closed with a call still waiting.
    if (Math.random() < 0.3) {
      const waiting = client.call('echo', 'late');
      void client.close();
      await tally.run('inference.closeMidCall', () => waiting, { expect: 'ClosedError', mayPass: true });
    }
    await client.close();
  }
}

/** One action client after another, asking for observations, sending actions and receiving the stream. */
export async function actionDriver({ servers, tally, running }: Soak): Promise<void> {
  while (running()) {
    let client: ActionClient | undefined;
    const config = { portNumber: servers.action.port, broadcastPort: servers.action.broadcastPort, ...ACTION_KEYS };
    await tally.run('action.connect', async () => {
      client = await ActionClient.connect(HOST, config, { connectTimeoutMs: 3_000, timeoutMs: 3_000 });
    });
    if (!client) continue;
    tally.reconnects++;
    const c = client;
    c.registerObsCallback(() => {
      tally.obsDelivered++;
    });
    for (let i = callsPerClient(); i > 0 && running(); i--) {
      const r = Math.random();
      if (r < 0.4) {
        await tally.run('action.obs', () => c.obs(['cam', 'state']), {
          check: (v) => (v as { cam?: unknown }).cam instanceof Tensor,
        });
      } else if (r < 0.9) {
        const x = Math.random();
        await tally.run('action.act', () => c.act('move', { x }), {
          check: (v) => (v as { payload?: { x?: number } }).payload?.x === x,
        });
      } else if (r < 0.97) {
        const grip = floats(1024);
        await tally.run('action.actTensor', () => c.act('grip', grip), {
          check: (v) => (v as { payload?: Float32Array }).payload?.[1023] === grip[1023],
        });
      } else {
        await tally.run('action.unknownKey', () => c.act('fly', null), { expect: 'NotFoundError' });
      }
      await pause();
    }
    await c.close();
  }
}

/** One actor after another, sending train steps and custom requests and receiving weights. */
export async function trainerDriver({ servers, tally, running }: Soak): Promise<void> {
  while (running()) {
    let client: TrainerClient | undefined;
    await tally.run('trainer.connect', async () => {
      client = await TrainerClient.connect(HOST, servers.trainerConfig(), {
        connectTimeoutMs: 3_000,
        timeoutMs: 3_000,
      });
    });
    if (!client) continue;
    tally.reconnects++;
    const c = client;
    c.registerCallback(() => {
      tally.weightsDelivered++;
    });
    const stored = (v: unknown): boolean => (v as { stored?: boolean }).stored === true;
    for (let i = callsPerClient(); i > 0 && running(); i--) {
      const r = Math.random();
      if (r < 0.6) {
        await tally.run('trainer.step', () => c.trainStep('exp', { obs: floats(64), reward: Math.random() }), {
          check: stored,
        });
      } else if (r < 0.7) {
        await tally.run('trainer.bigStep', () => c.trainStep('big', { obs: floats(64 * 1024) }), { check: stored });
      } else if (r < 0.95) {
        await tally.run('trainer.request', () => c.request('info'), {
          check: (v) => Array.isArray((v as { tables?: unknown }).tables),
        });
      } else {
        await tally.run('trainer.fail', () => c.request('fail'), { expect: 'RemoteError' });
      }
      await pause();
    }
    await c.close();
  }
}

/** Junk frames for a request port: random frames, truncated requests, requests of another protocol version. */
function junkFrames(): Buffer[] {
  const r = Math.random();
  if (r < 0.4)
    return Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () =>
      randomBytes(Math.floor(Math.random() * 200)),
    );
  const valid = encodeRequest(Math.floor(Math.random() * 1e6), 'call', 'echo', { x: floats(8) });
  const header = Buffer.from(valid[0]!);
  if (r < 0.8)
    return [
      header.subarray(0, Math.floor(Math.random() * header.length)),
      ...valid.slice(1).map((f) => Buffer.from(f)),
    ];
  header[1] = 0x02; // the first key's value is no longer what it was
  return [header];
}

async function rawTcp(port: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const socket = tcpConnect(port, HOST);
    const done = (): void => {
      socket.destroy();
      resolve();
    };
    socket.on('error', done).on('close', done);
    socket.setTimeout(1_000, done);
    socket.end(randomBytes(1 + Math.floor(Math.random() * 512)));
  });
}

async function drain(socket: zmq.Dealer): Promise<void> {
  try {
    for await (const _ of socket) {
      // Answers to junk are read and dropped.
    }
  } catch {
    // Closed.
  }
}

/** Garbage at every port, until the run ends. */
export async function garbageDriver({ servers, tally, running }: Soak): Promise<void> {
  const [inferencePort, actionPort, , trainerPort] = servers.ports();
  const dealers = [inferencePort, actionPort, trainerPort].map((port) => {
    const d = new zmq.Dealer({ linger: 0, sendTimeout: 0 });
    d.connect(`tcp://${HOST}:${port}`);
    void drain(d);
    return d;
  });
  const tcp = new Set<Promise<void>>();
  try {
    while (running()) {
      const r = Math.random();
      const ports = servers.ports();
      if (r < 0.3) {
        // Raw TCP junk, a few connections at a time (a peer that sent half a greeting is dropped only after a while).
        if (tcp.size < 8) {
          const p = rawTcp(ports[Math.floor(Math.random() * ports.length)]!).finally(() => tcp.delete(p));
          tcp.add(p);
        }
      } else if (r < 0.9) {
        const d = dealers[Math.floor(Math.random() * dealers.length)]!;
        for (let i = 0; i < 4; i++) await d.send(junkFrames()).catch(() => undefined);
      } else {
        const sub = new zmq.Subscriber({ linger: 0 });
        sub.subscribe();
        sub.connect(`tcp://${HOST}:${Math.random() < 0.5 ? ports[2] : ports[4]}`);
        await delay(20);
        sub.close();
      }
      tally.garbage++;
      await delay(2 + Math.random() * 8);
    }
    await Promise.all(tcp);
  } finally {
    for (const d of dealers) d.close();
  }
}

/**
 * Hostile peers, until the run ends: a client that sends requests and never reads the replies, a subscriber that
 * re-subscribes again and again, and calls to a handler that never settles (abandoned by the server at its
 * handlerTimeoutMs). None of them may cost the ordinary clients anything but CPU time.
 */
export async function hostileDriver({ servers, tally, running }: Soak): Promise<void> {
  const [inferencePort, , , , trainerBroadcastPort] = servers.ports();
  const reader = new zmq.Dealer({ linger: 0, sendTimeout: 0, receiveHighWaterMark: 1, receiveBufferSize: 4096 });
  reader.connect(`tcp://${HOST}:${inferencePort}`);
  const resubscriber = new zmq.XSubscriber({ linger: 0, sendTimeout: 0 });
  resubscriber.connect(`tcp://${HOST}:${trainerBroadcastPort}`);
  void (async () => {
    try {
      for await (const _ of resubscriber) {
        // It reads what it gets: this one only re-subscribes.
      }
    } catch {
      // Closed.
    }
  })();
  const hang = new InferenceClient(HOST, inferencePort!, { timeoutMs: 3000 });
  let id = 1;
  const payload = { data: new Uint8Array(64 * 1024) };
  try {
    while (running()) {
      const r = Math.random();
      if (r < 0.4) {
        for (let i = 0; i < 50; i++) {
          await reader.send(encodeRequest(id++, 'call', 'echo', payload)).catch(() => undefined);
        }
      } else if (r < 0.8) {
        for (let i = 0; i < 50; i++) {
          await resubscriber.send(Buffer.from('\x01weights')).catch(() => undefined);
          await resubscriber.send(Buffer.from('\x00weights')).catch(() => undefined);
        }
      } else {
        await tally.run('hostile:hang', () => hang.call('hang', null), { expect: 'TimeoutError' });
      }
      tally.garbage++;
      await delay(5 + Math.random() * 10);
    }
  } finally {
    reader.close();
    resubscriber.close();
    await hang.close();
  }
}
