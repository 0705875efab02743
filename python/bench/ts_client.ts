// The TypeScript side of bench_cross.py: an edgeml InferenceClient calling the Python InferenceServer's `echo`,
// and a raw zeromq.js DEALER sending the same request frames to the raw pyzmq ROUTER echo (the floor of this
// pairing). Driven over stdin/stdout by bench_cross.py, one JSON line per command, so that its batches interleave
// with the Python targets'. Timing is taken here, around each round trip only.
//
//   npx tsx python/bench/ts_client.ts EDGEML_PORT RAW_PORT      (from the repository root)
//
// Commands: {"cmd":"prepare","case":..,"dtype":..,"shape":[..]} -> {"ok":true,"bytes":N}
//           {"cmd":"run","target":"edgeml"|"raw","n":K}        -> {"t":[ms, ...]}
//           {"cmd":"quit"}
import { createInterface } from 'node:readline';
import * as zmq from 'zeromq';
import * as edgeml from '../../src/index.js';
import { encodeRequest } from '../../src/wire/envelopes.js';

const edgemlPort = Number(process.argv[2]);
const rawPort = Number(process.argv[3]);

const client = new edgeml.InferenceClient('127.0.0.1', edgemlPort, { timeoutMs: 60_000 });
// The options edgeml's own DEALER uses (src/transport/zmq/zmq-transport.ts), without edgeml on top.
const dealer = new zmq.Dealer({
  linger: 0,
  maxMessageSize: 256 * 1024 * 1024,
  heartbeatInterval: 1000,
  heartbeatTimeout: 3000,
  immediate: true,
  reconnectInterval: 100,
  reconnectMaxInterval: 1000,
  sendHighWaterMark: 10_000,
  receiveHighWaterMark: 10_000,
});
dealer.connect(`tcp://127.0.0.1:${rawPort}`);

const ITEMSIZE: Record<string, number> = { uint8: 1, float32: 4 };
let payload: { x: edgeml.Tensor } | undefined;
let frames: Uint8Array[] = [];
let sent = 0;

function filled(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 37 + 11) & 0xff;
  return out;
}

async function edgemlTrip(): Promise<number> {
  const r = (await client.call('echo', payload)) as { x: edgeml.Tensor };
  return r.x.byteLength;
}

async function rawTrip(): Promise<number> {
  await dealer.send(frames);
  const reply = await dealer.receive();
  let n = 0;
  for (const f of reply) n += f.byteLength;
  return n;
}

function say(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const cmd = JSON.parse(line) as {
    cmd: string;
    case?: string;
    dtype?: string;
    shape?: number[];
    target?: string;
    n?: number;
  };
  if (cmd.cmd === 'quit') break;
  if (cmd.cmd === 'prepare') {
    const shape = cmd.shape ?? [];
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = filled(n * ITEMSIZE[cmd.dtype ?? 'uint8']!);
    const data = cmd.dtype === 'float32' ? new Float32Array(bytes.buffer) : bytes;
    payload = { x: new edgeml.Tensor(cmd.dtype as never, data as never, shape) };
    frames = encodeRequest(1, 'call', 'echo', payload) as Uint8Array[];
    sent = frames.reduce((a, f) => a + f.byteLength, 0);
    // Check both paths once, then warm up.
    if ((await edgemlTrip()) !== bytes.length) throw new Error('edgeml echo came back with another size');
    if ((await rawTrip()) !== sent) throw new Error('raw echo came back with another size');
    for (let i = 0; i < 3; i++) {
      await edgemlTrip();
      await rawTrip();
    }
    say({ ok: true, bytes: sent });
  } else if (cmd.cmd === 'run') {
    const trip = cmd.target === 'raw' ? rawTrip : edgemlTrip;
    const t: number[] = [];
    for (let i = 0; i < (cmd.n ?? 1); i++) {
      const t0 = performance.now();
      await trip();
      t.push(performance.now() - t0);
    }
    say({ t });
  }
}
client.close();
dealer.close();
