// An InferenceClient run against a Python InferenceServer (argv: port). Prints one JSON line per check.
import { DTYPES, ERROR_CLASSES, edgeml, hex, say, tensor } from './common.js';

const port = Number(process.argv[2]);
const client = new edgeml.InferenceClient('127.0.0.1', port, { timeoutMs: 20000 });
const out: Record<string, unknown> = {};
// Tensors of every dtype, through the Python echo.
for (const d of DTYPES) {
  const t = tensor(d, [2, 3]);
  const r = (await client.call('echo', { t })) as { t: edgeml.Tensor };
  out[`tensor-${d}`] =
    r.t instanceof edgeml.Tensor && r.t.dtype === d && hex(r.t) === hex(t) && r.t.shape.join() === '2,3';
}
// Typed arrays and plain values.
const f32 = new Float32Array([1.5, -2, 3]);
const r1 = (await client.call('echo', {
  f32,
  i64: new BigInt64Array([-5n, 2n ** 60n]),
  n: 3,
  f: 2.5,
  big: 2n ** 60n,
  s: 'héllo',
  b: new Uint8Array([1, 2, 3]),
  nil: null,
  list: [1, 'a', true],
})) as Record<string, unknown>;
out.typedArrays =
  r1.f32 instanceof Float32Array &&
  (r1.f32 as Float32Array)[0] === 1.5 &&
  r1.i64 instanceof BigInt64Array &&
  (r1.i64 as BigInt64Array)[1] === 2n ** 60n;
out.scalars =
  r1.n === 3 &&
  r1.f === 2.5 &&
  r1.big === 2n ** 60n &&
  r1.s === 'héllo' &&
  r1.nil === null &&
  (r1.b as Uint8Array)[2] === 3 &&
  JSON.stringify(r1.list) === '[1,"a",true]';
// The Python side's own arrays.
const made = (await client.call('dtypes', null)) as Record<string, edgeml.Tensor>;
out.pythonDtypes = DTYPES.every((d) => made[d]?.dtype === d && hex(made[d]!) === hex(tensor(d, [2, 3])));
// Errors of every class.
for (const cls of Object.keys(ERROR_CLASSES)) {
  try {
    await client.call('raise', { cls, message: `boom ${cls}` });
    out[`error-${cls}`] = 'no error';
  } catch (e) {
    const err = e as edgeml.EdgeMLError & { remoteName?: string; fields?: string[]; field?: string };
    const expected = cls === 'TypeError' || cls === 'ValueError' ? 'RemoteError' : cls;
    out[`error-${cls}`] =
      err.name === expected &&
      err.message.includes(`boom ${cls}`) &&
      (cls !== 'TypeError' || err.remoteName === 'TypeError') &&
      (cls !== 'ConfigMismatchError' || err.fields?.join() === 'a,b') &&
      (cls !== 'InvalidArgumentError' || err.field === 'field1')
        ? true
        : `${err.name}: ${err.message}`;
  }
}
try {
  await client.call('missing', null);
} catch (e) {
  out.notFound = (e as Error).name === 'NotFoundError';
}
try {
  await client.call('sleep', 2000, { timeoutMs: 300 });
} catch (e) {
  out.timeout = (e as Error).name === 'TimeoutError';
}
// 100 MB.
const big = new Uint8Array(100 * 1024 * 1024);
for (let i = 0; i < big.length; i += 4096) big[i] = (i >> 12) & 0xff;
const t = new edgeml.Tensor('uint8', big, [big.length]);
const r = (await client.call('echo', t)) as edgeml.Tensor;
out.big = r.byteLength === big.length && Buffer.compare(Buffer.from(r.bytes()), Buffer.from(big)) === 0;
out.interfaces = ((await client.interfaces()) as string[]).includes('echo');
say(out);
client.close();
