// Shared helpers of the TypeScript peers used by the Python cross-language tests.
import * as edgeml from '../../../src/index.js';

export const DTYPES = [
  'bool',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float16',
  'bfloat16',
  'float32',
  'float64',
] as const;
const ITEMSIZE: Record<string, number> = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  float16: 2,
  bfloat16: 2,
  float32: 4,
  float64: 8,
};
const CTOR: Record<string, new (b: ArrayBuffer) => ArrayBufferView> = {
  bool: Uint8Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
} as never;

/** The byte pattern both sides build for a tensor of `dtype` with `n` elements (bool: 0/1). */
export function pattern(dtype: string, n: number): Uint8Array {
  const out = new Uint8Array(n * ITEMSIZE[dtype]!);
  for (let i = 0; i < out.length; i++) out[i] = dtype === 'bool' ? i & 1 : (i * 37 + 11) & 0xff;
  return out;
}

export function tensor(dtype: string, shape: number[]): edgeml.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = pattern(dtype, n);
  const data = new CTOR[dtype]!(bytes.buffer as ArrayBuffer);
  return new edgeml.Tensor(dtype as never, data as never, shape);
}

export function hex(t: edgeml.Tensor): string {
  return Buffer.from(t.bytes()).toString('hex');
}

/** Prints one JSON line (the Python side reads stdout line by line). */
export function say(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))}\n`);
}

/** Resolves when stdin closes (the Python test ends a server peer that way). */
export function untilStdinCloses(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.on('data', () => undefined);
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
  });
}

export const ERROR_CLASSES: Record<string, (m: string) => Error> = {
  EdgeMLError: (m) => new edgeml.EdgeMLError(m),
  TimeoutError: (m) => new edgeml.TimeoutError(m, 1),
  AbortError: (m) => new edgeml.AbortError(m),
  ProtocolError: (m) => new edgeml.ProtocolError(m),
  ConfigMismatchError: (m) => new edgeml.ConfigMismatchError(m, ['a', 'b']),
  ClosedError: (m) => new edgeml.ClosedError(m),
  LimitError: (m) => new edgeml.LimitError(m),
  NotFoundError: (m) => new edgeml.NotFoundError(m),
  InvalidArgumentError: (m) => new edgeml.InvalidArgumentError('field1', m),
  AuthenticationError: (m) => new edgeml.AuthenticationError(m),
  TypeError: (m) => new TypeError(m),
};

export { edgeml };
