import { tcpEndpoint } from '../../src/core/endpoint.js';
/**
 * Before/after figures of the hostile-peer attacks (issue 10), outside vitest and with long deadlines, so that the
 * same attacks can be timed against code that fails them. Prints one JSON line per attack: the replies' error codes
 * and sizes, the server's peak RSS (VmHWM), its longest event-loop stall, whether a legitimate client was served
 * (and how long it waited), which callbacks ran, and whether the server survived.
 *
 * Usage: node --import tsx test/hostile/measure.ts <row1-trainer|row1-inference|row2|row3|row10> [timeoutSeconds]
 *   env STEPS: row 2's number of 1 GiB train steps (default 3); ROW3_40=0: row 3 without the 40 MiB hello.
 */
import { RpcClient } from '../../src/messaging/rpc-client.js';
import { ZmqTransport } from '../../src/transport/zmq/zmq-transport.js';
import { lz4Compress } from '../../src/wire/lz4.js';
import { startFixture } from '../faults/child.js';
import { HOST } from '../helpers.js';
import { Attacker, emptyMapBomb, ext, memoryOf, mp, request, statsOf } from './attack.js';

const [row = 'row1-trainer', timeoutText = '120'] = process.argv.slice(2);
const timeoutMs = Number(timeoutText) * 1000;
const MiB = 1024 * 1024;
const kind = row === 'row3' ? 'action' : row === 'row1-trainer' || row === 'row2' ? 'trainer' : 'inference';
const fixture = startFixture('hostile-server.ts', [kind, '{}']);
const port = Number((await fixture.line((l) => l.startsWith('ready '), 'ready')).split(' ')[1]);
const attacker = new Attacker(port);
const legit = new RpcClient(new ZmqTransport(), tcpEndpoint(HOST, port), { timeoutMs });
const started = performance.now();
// Sampled too, for a server that dies before it can be asked (VmHWM goes with the process).
let sampledPeakMB = 0;
const sampler = setInterval(() => {
  try {
    const { peakMB } = memoryOf(fixture.proc.pid!);
    if (peakMB > sampledPeakMB) sampledPeakMB = peakMB;
  } catch {
    // gone
  }
}, 100);
const result: Record<string, unknown> = { row };
const replies: Record<string, unknown>[] = [];

async function collect(ids: number[]): Promise<void> {
  for (const id of ids) {
    try {
      const died = fixture.exited.then((code) => {
        throw new Error(`server exited (${code ?? fixture.proc.signalCode})`);
      });
      const { env, bytes } = await Promise.race([attacker.reply(id, timeoutMs), died]);
      replies.push({ id, code: env.kind === 'err' ? env.error.code : 'ok', bytes });
    } catch (e) {
      replies.push({
        id,
        code: `no reply (${(e as Error).message.slice(0, 60)})`,
        alive: fixture.proc.exitCode === null,
      });
    }
  }
}
function legitCall(method: string, name: string | undefined, payload: unknown): Promise<void> {
  const t0 = performance.now();
  const died = fixture.exited.then(() => {
    throw new Error('the server died');
  });
  return Promise.race([legit.call(method, name, payload), died]).then(
    () => {
      result.legit = `served after ${Math.round(performance.now() - t0)} ms`;
    },
    (e: unknown) => {
      result.legit = `not served: ${(e as Error).name} ${(e as Error).message.slice(0, 80)}`;
    },
  );
}

const nil = Uint8Array.of(0xc0);
let served: Promise<void>;
if (row === 'row1-trainer' || row === 'row1-inference') {
  const [method, name] = row === 'row1-trainer' ? ['train', 'steps'] : ['call', 'echo'];
  const bomb = emptyMapBomb(16, 999_999);
  for (let id = 1; id <= 6; id++) await attacker.send([request(id, method, name, bomb)]);
  served = legitCall(method, name, { token: 'legit' });
  await collect([1, 2, 3, 4, 5, 6]);
} else if (row === 'row2') {
  const payload = (raw: number) =>
    mp((w) => {
      w.mapHeader(2);
      w.string('token');
      w.string(`lz4-${raw}`);
      w.string('data');
      ext(w, 1, (b) => {
        b.arrayHeader(3);
        b.int(1);
        b.string('lz4');
        b.int(raw);
      });
    });
  const raw = 1024 ** 3 - 4096;
  const block = lz4Compress(new Uint8Array(raw))!;
  result.blockBytes = block.byteLength;
  const steps = Number(process.env.STEPS ?? 3);
  const ids = Array.from({ length: steps + 1 }, (_, i) => i + 1);
  for (const id of ids.slice(0, steps)) await attacker.send([request(id, 'train', 'steps', payload(raw)), block]);
  await attacker.send([request(steps + 1, 'train', 'steps', payload(1024 ** 3 + 1)), new Uint8Array(4_300_000)]);
  served = legitCall('train', 'steps', { token: 'legit' });
  await collect(ids);
} else if (row === 'row3') {
  const hello = mp((w) => {
    w.mapHeader(2);
    w.string('mode');
    w.string('action');
    w.string('config');
    w.mapHeader(1);
    w.string('version');
    ext(w, 1, (b) => b.int(1));
  });
  await attacker.send([request(1, 'hello', undefined, hello), new Uint8Array(20 * MiB).fill(7)]);
  if (process.env.ROW3_40 !== '0')
    await attacker.send([request(2, 'hello', undefined, hello), new Uint8Array(40 * MiB)]);
  served = legitCall('obs', undefined, { keys: ['cam1'] });
  await collect(process.env.ROW3_40 !== '0' ? [1, 2] : [1]);
} else {
  const tensor = (dtype: string, dim: (w: Parameters<Parameters<typeof mp>[0]>[0]) => void) =>
    mp((w) => {
      w.mapHeader(2);
      w.string('token');
      w.string(dtype);
      w.string('t');
      ext(w, 3, (b) => {
        b.arrayHeader(3);
        b.string(dtype);
        b.arrayHeader(1);
        dim(b);
        b.int(1);
      });
    });
  await attacker.send([
    request(
      1,
      'call',
      'echo',
      tensor('bool', (b) => b.int(3)),
    ),
    Uint8Array.of(0, 1, 2),
  ]);
  await attacker.send([
    request(
      2,
      'call',
      'echo',
      tensor('uint8', (b) => b.float64(2)),
    ),
    Uint8Array.of(1, 2),
  ]);
  await attacker.send([
    request(
      3,
      'call',
      'echo',
      tensor('int8', (b) => b.float64(-0)),
    ),
    new Uint8Array(0),
  ]);
  const long = 'm'.repeat(15 * MiB);
  await attacker.send([request(4, long, undefined, nil)]);
  await attacker.send([request(5, 'call', long, nil)]);
  served = legitCall('call', 'echo', { token: 'legit' });
  await collect([1, 2, 3, 4, 5]);
}
await served;
result.replies = replies;
result.seconds = Math.round((performance.now() - started) / 100) / 10;
result.alive = fixture.proc.exitCode === null && fixture.proc.signalCode === null;
if (result.alive) {
  const stats = await statsOf(fixture);
  result.maxStallMs = stats.maxStallMs;
  result.table = stats.table;
  result.peakMB = memoryOf(fixture.proc.pid!).peakMB;
  // Resident memory once the attack is over and the server has had a moment (garbage may still be uncollected).
  await new Promise((r) => setTimeout(r, 2000));
  result.rssAfterMB = memoryOf(fixture.proc.pid!).rssMB;
} else result.stderrTail = fixture.stderr().slice(-300);
clearInterval(sampler);
result.sampledPeakMB = sampledPeakMB;
result.callbacks = fixture.lines.filter((l) => l.startsWith('cb ')).map((l) => l.slice(0, 40));
process.stdout.write(`${JSON.stringify(result)}\n`);
attacker.close();
legit.close();
await fixture.kill();
process.exit(0);
