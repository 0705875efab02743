import { deepStrictEqual } from 'node:assert';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, LimitError, ProtocolError } from '../src/core/errors.js';
import { arrayTypeOf, DTYPES, type DType, isTensor, itemSize, shapeSize, Tensor } from '../src/tensor/tensor.js';
import { decodeMessage, EXT_TENSOR, encodeMessage, type Frame } from '../src/wire/codec.js';
import { MsgpackWriter } from '../src/wire/msgpack-writer.js';
import { toTagged } from './vectors/tagged.js';

/** The value a decoder must give back for `v`: small bigints become numbers, `undefined` is dropped or null. */
function expected(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n ? Number(v) : v;
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || isTensor(v)) return v;
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : expected(x)));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x !== undefined) Object.defineProperty(out, k, { value: expected(x), enumerable: true, writable: true });
  }
  return out;
}

/** Checks what equality of tagged forms cannot see: classes and prototypes of the decoded value. */
function checkClasses(decoded: unknown): void {
  if (decoded === null || typeof decoded !== 'object') return;
  if (isTensor(decoded)) {
    expect(decoded).toBeInstanceOf(Tensor);
    expect(decoded.data).toBeInstanceOf(arrayTypeOf(decoded.dtype));
    return;
  }
  if (ArrayBuffer.isView(decoded)) {
    expect(Buffer.isBuffer(decoded)).toBe(false);
    return;
  }
  if (Array.isArray(decoded)) return decoded.forEach(checkClasses);
  expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  for (const v of Object.values(decoded)) checkClasses(v);
}

function roundTrip(v: unknown, options?: Parameters<typeof encodeMessage>[1]): unknown {
  return decodeMessage(encodeMessage(v, options));
}

/** A copy of `bytes` placed at `offset` inside a larger buffer (to control alignment). */
function placeAt(bytes: Uint8Array, offset: number): Uint8Array {
  const backing = new Uint8Array(bytes.byteLength + offset + 8);
  backing.set(bytes, offset);
  return backing.subarray(offset, offset + bytes.byteLength);
}

const tensorArb = fc
  .record({
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }),
  })
  .chain(({ dtype, shape }) => {
    const n = shapeSize(shape) * itemSize(dtype);
    return fc.uint8Array({ minLength: n, maxLength: n, max: dtype === 'bool' ? 1 : 255 }).map((bytes) => {
      const Ctor = arrayTypeOf(dtype);
      const data = new Ctor(new Uint8Array(bytes).buffer, 0, shapeSize(shape));
      return new Tensor(dtype, data as never, shape);
    });
  });

const typedArrayArb = fc.oneof(
  fc.int8Array({ maxLength: 8 }),
  fc.int16Array({ maxLength: 8 }),
  fc.uint16Array({ maxLength: 8 }),
  fc.int32Array({ maxLength: 8 }),
  fc.uint32Array({ maxLength: 8 }),
  fc.float32Array({ maxLength: 8 }),
  fc.float64Array({ maxLength: 8 }),
  fc.bigInt64Array({ maxLength: 8 }),
  fc.bigUint64Array({ maxLength: 8 }),
);

const leafArb = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.double(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.string({ unit: 'binary' }),
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  typedArrayArb,
  tensorArb,
);

const valueArb = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), tie('value'), { maxKeys: 5 }),
  ),
})).value;

describe('round trips', () => {
  it('keeps any payload value (property)', () => {
    fc.assert(
      fc.property(valueArb, fc.integer({ min: 0, max: 64 }), (v, inlineBytesMax) => {
        const decoded = roundTrip(v, { inlineBytesMax });
        expect(toTagged(decoded)).toEqual(toTagged(expected(v)));
        checkClasses(decoded);
      }),
    );
  });

  it('is deterministic: the same value gives the same bytes (property)', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const a = encodeMessage(v).map((f) => Buffer.from(f).toString('hex'));
        const b = encodeMessage(v).map((f) => Buffer.from(f).toString('hex'));
        expect(a).toEqual(b);
      }),
    );
  });

  it('gives back plain objects and arrays, equal in the deepStrictEqual sense', () => {
    const v = { a: [1, 'two', { three: [null, true, false] }], b: { c: { d: 'e' } }, f: -1.5, g: '' };
    const decoded = roundTrip(v);
    deepStrictEqual(decoded, v);
  });

  it('drops undefined properties and sends undefined array elements as null', () => {
    deepStrictEqual(roundTrip({ a: undefined, b: [undefined, 1] }), { b: [null, 1] });
    expect(roundTrip(undefined)).toBe(null);
  });

  it('keeps numbers exactly: -0, NaN, infinities, large floats, safe integers', () => {
    for (const n of [
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -Number.MAX_VALUE,
      2 ** 60,
      0.1,
      2 ** 53 - 1,
      -(2 ** 31),
    ]) {
      expect(Object.is(roundTrip(n), n)).toBe(true);
    }
  });

  it('keeps bigints beyond 2^53 as bigint and turns smaller bigints into numbers', () => {
    expect(roundTrip(2n ** 53n)).toBe(2n ** 53n);
    expect(roundTrip(-(2n ** 53n))).toBe(-(2n ** 53n));
    expect(roundTrip(2n ** 64n - 1n)).toBe(2n ** 64n - 1n);
    expect(roundTrip(-(2n ** 63n))).toBe(-(2n ** 63n));
    expect(roundTrip(2n ** 53n - 1n)).toBe(2 ** 53 - 1);
    expect(roundTrip(-5n)).toBe(-5);
  });

  it('rejects bigints that need more than 64 bits, naming the path', () => {
    expect(() => encodeMessage({ big: [2n ** 64n] })).toThrow(InvalidArgumentError);
    expect(() => encodeMessage({ big: [2n ** 64n] })).toThrow(/payload\.big\[0\]/);
    expect(() => encodeMessage(-(2n ** 63n) - 1n)).toThrow(InvalidArgumentError);
  });

  it('keeps strings, including non-ASCII and every length form', () => {
    for (const s of [
      '',
      'a',
      'héllo ✓ 日本語 🤖',
      'x'.repeat(31),
      'x'.repeat(32),
      'é'.repeat(200),
      'y'.repeat(70000),
    ]) {
      expect(roundTrip(s)).toBe(s);
    }
  });

  it('gives every typed array back as the same class with the same elements', () => {
    const arrays = [
      Int8Array.of(-1, 2),
      Int16Array.of(-1, 2),
      Uint16Array.of(1, 65535),
      Int32Array.of(-1, 2),
      Uint32Array.of(1, 4294967295),
      BigInt64Array.of(-1n, 2n ** 62n),
      BigUint64Array.of(1n, 2n ** 64n - 1n),
      Float32Array.of(1.5, Number.NaN),
      Float64Array.of(0.1, -0),
    ];
    for (const a of arrays) {
      const frames = encodeMessage(a);
      expect(frames).toHaveLength(2);
      const back = decodeMessage(frames) as typeof a;
      expect(back.constructor).toBe(a.constructor);
      expect(Buffer.from(back.buffer, back.byteOffset, back.byteLength)).toEqual(
        Buffer.from(a.buffer, a.byteOffset, a.byteLength),
      );
    }
  });

  it('refuses typed arrays it cannot carry', () => {
    expect(() => encodeMessage({ px: new Uint8ClampedArray(2) })).toThrow(
      /payload\.px: cannot encode a Uint8ClampedArray/,
    );
    expect(() => encodeMessage(new DataView(new ArrayBuffer(2)))).toThrow(InvalidArgumentError);
  });
});

describe('tensors', () => {
  it('round-trips every dtype and shape kind (property)', () => {
    fc.assert(
      fc.property(tensorArb, (t) => {
        const back = roundTrip(t) as Tensor;
        expect(back).toBeInstanceOf(Tensor);
        expect(back.dtype).toBe(t.dtype);
        expect(back.shape).toEqual(t.shape);
        expect(back.data.constructor).toBe(t.data.constructor);
        expect(Buffer.from(back.bytes())).toEqual(Buffer.from(t.bytes()));
      }),
    );
  });

  it.each(DTYPES)('round-trips %s as 0-d, empty, 1-d and n-d tensors', (dtype: DType) => {
    const Ctor = arrayTypeOf(dtype);
    for (const shape of [[], [0, 3], [5], [2, 3, 4]]) {
      const n = shapeSize(shape);
      const bytes = Uint8Array.from({ length: n * itemSize(dtype) }, (_, i) =>
        dtype === 'bool' ? i & 1 : (i * 37 + 11) & 0xff,
      );
      const t = new Tensor(dtype, new Ctor(bytes.buffer, 0, n) as never, shape);
      const back = roundTrip(t) as Tensor;
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual(shape);
      expect(back.data).toBeInstanceOf(Ctor);
      expect(Buffer.from(back.bytes())).toEqual(Buffer.from(bytes));
    }
  });

  it('sends tensor data without copying: the data frame is a view on the caller buffer', () => {
    const data = new Float32Array(1000).fill(1.25);
    const t = new Tensor('float32', data.subarray(10, 510), [10, 50]);
    const frames = encodeMessage({ t });
    expect(frames[1]!.buffer).toBe(data.buffer);
    expect(frames[1]!.byteOffset).toBe(40);
    expect(frames[1]!.byteLength).toBe(2000);
  });

  it('sends typed arrays and large byte strings without copying', () => {
    const f = new Float64Array(4);
    const big = new Uint8Array(4096);
    const buf = Buffer.alloc(2048);
    const frames = encodeMessage([f, big, buf]);
    expect(frames[1]!.buffer).toBe(f.buffer);
    expect(frames[2]!.buffer).toBe(big.buffer);
    expect(frames[3]!.buffer).toBe(buf.buffer);
  });

  it('gives views on aligned received frames (no copy)', () => {
    const t = new Tensor('float64', Float64Array.of(1, 2, 3), [3]);
    const [header, data] = encodeMessage(t);
    const frame = placeAt(data!, 16);
    const back = decodeMessage([header!, frame]) as Tensor<'float64'>;
    expect(back.data.buffer).toBe(frame.buffer);
    expect(back.data.byteOffset).toBe(16);
  });

  it('copies misaligned received frames and still decodes them right', () => {
    for (const dtype of ['int16', 'int32', 'float32', 'float64', 'int64', 'uint64'] as const) {
      const Ctor = arrayTypeOf(dtype);
      const n = 6;
      const bytes = Uint8Array.from({ length: n * itemSize(dtype) }, (_, i) => (i * 53 + 7) & 0xff);
      const t = new Tensor(dtype, new Ctor(bytes.buffer, 0, n) as never, [2, 3]);
      const [header, data] = encodeMessage(t);
      const frame = placeAt(data!, 1);
      const back = decodeMessage([header!, frame]) as Tensor;
      expect(back.data.buffer).not.toBe(frame.buffer);
      expect(back.data.byteOffset % itemSize(dtype)).toBe(0);
      expect(Buffer.from(back.bytes())).toEqual(Buffer.from(bytes));
    }
  });

  it('handles tensors nested deep inside the payload', () => {
    let v: unknown = new Tensor('float32', Float32Array.of(1, 2), [2]);
    for (let i = 0; i < 63; i++) v = [v];
    let back = roundTrip(v);
    for (let i = 0; i < 63; i++) back = (back as unknown[])[0];
    expect(back).toBeInstanceOf(Tensor);
  });
});

describe('bytes', () => {
  it('keeps short byte strings inline and longer ones in their own frame', () => {
    expect(encodeMessage(new Uint8Array(1023))).toHaveLength(1);
    expect(encodeMessage(new Uint8Array(1024))).toHaveLength(2);
    expect(encodeMessage(new Uint8Array(8), { inlineBytesMax: 8 })).toHaveLength(2);
  });

  it('delivers bytes as plain Uint8Array, also when a Buffer was sent', () => {
    for (const n of [0, 5, 1024, 5000]) {
      for (const b of [Uint8Array.from({ length: n }, (_, i) => i & 0xff), Buffer.alloc(n, 7)]) {
        const back = roundTrip({ b }) as { b: Uint8Array };
        expect(back.b.constructor).toBe(Uint8Array);
        expect(Buffer.from(back.b)).toEqual(Buffer.from(b));
      }
    }
  });

  it('delivers plain Uint8Array even when the transport hands over Buffer frames', () => {
    const frames = encodeMessage({ b: Buffer.alloc(2000, 1), s: Uint8Array.of(1, 2) }).map((f) => Buffer.from(f));
    const back = decodeMessage(frames) as { b: Uint8Array; s: Uint8Array };
    expect(back.b.constructor).toBe(Uint8Array);
    expect(back.s.constructor).toBe(Uint8Array);
  });

  it('sends an ArrayBuffer as bytes', () => {
    const back = roundTrip(Uint8Array.of(1, 2, 3).buffer) as Uint8Array;
    expect([...back]).toEqual([1, 2, 3]);
  });
});

describe('keys that could touch a prototype', () => {
  it('turns __proto__, constructor and prototype into own properties', () => {
    const v = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}, "prototype": 3}');
    const back = roundTrip(v) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__', 'constructor', 'prototype']);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: true });
    expect((back as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(back, 'constructor')?.value).toEqual({ prototype: { x: 1 } });
  });

  it('decodes a __proto__ key written by another peer without setting a prototype', () => {
    const w = new MsgpackWriter();
    w.mapHeader(1);
    w.string('__proto__');
    w.mapHeader(1);
    w.string('isAdmin');
    w.bool(true);
    const back = decodeMessage([w.finish()]) as { isAdmin?: boolean };
    expect(back.isAdmin).toBeUndefined();
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
  });
});

describe('values that cannot be encoded', () => {
  class Point {
    x = 1;
  }
  const cases: [string, unknown, string][] = [
    ['a function', { a: [0, 1, () => 1] }, 'payload.a[2]'],
    ['a symbol', { a: { b: Symbol('s') } }, 'payload.a.b'],
    ['a Date', [new Date(0)], 'payload[0]'],
    ['a Map', { m: new Map() }, 'payload.m'],
    ['a Set', { s: [[new Set()]] }, 'payload.s[0][0]'],
    ['a class instance', { p: new Point() }, 'payload.p'],
    ['a RegExp', { r: /x/ }, 'payload.r'],
    ['a boxed number', { n: Object(1) }, 'payload.n'],
    ['a top-level function', () => 1, 'payload'],
  ];
  it.each(cases)('rejects %s with an InvalidArgumentError naming its path', (_what, value, field) => {
    let error: unknown;
    try {
      encodeMessage(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe(field);
  });

  it('rejects cycles with a LimitError', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    expect(() => encodeMessage(a)).toThrow(LimitError);
    const arr: unknown[] = [];
    arr.push(arr);
    expect(() => encodeMessage(arr)).toThrow(LimitError);
  });

  it('rejects nesting deeper than maxDepth, and accepts exactly maxDepth', () => {
    const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
    expect(() => encodeMessage(nest(64))).not.toThrow();
    expect(() => encodeMessage(nest(65))).toThrow(LimitError);
    expect(() => encodeMessage(nest(3), { maxDepth: 2 })).toThrow(LimitError);
  });

  it('validates its options', () => {
    expect(() => encodeMessage(1, { inlineBytesMax: -1 })).toThrow(InvalidArgumentError);
    expect(() => encodeMessage(1, { compression: { codec: 'zstd' as 'lz4' } })).toThrow(/compression\.codec/);
    expect(() => encodeMessage(1, { compression: { codec: 'lz4', minBytes: -5 } })).toThrow(/compression\.minBytes/);
  });
});

function header(build: (w: MsgpackWriter) => void): Frame {
  const w = new MsgpackWriter();
  build(w);
  return w.finish();
}

function decodeError(frames: Frame[], limits?: Parameters<typeof decodeMessage>[1]): unknown {
  try {
    decodeMessage(frames, limits);
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('limits', () => {
  const nest = (n: number): Frame => Uint8Array.from([...new Array(n).fill(0x91), 0xc0]);

  it('enforces the frame count before looking at the frames', () => {
    const frames = [Uint8Array.of(0xc0), ...new Array(1024).fill(new Uint8Array(0))];
    expect(decodeError(frames)).toBeInstanceOf(LimitError);
    expect(decodeError([Uint8Array.of(0xc0), new Uint8Array(1)], { maxFrames: 1 })).toBeInstanceOf(LimitError);
  });

  it('enforces the total size of all frames', () => {
    const frames = encodeMessage(new Uint8Array(2000));
    expect(decodeError(frames, { maxMessageBytes: 2000 })).toBeInstanceOf(LimitError);
    expect(decodeError(frames, { maxMessageBytes: 2003 })).toBeUndefined();
  });

  it('enforces the header size', () => {
    const frames = encodeMessage('x'.repeat(100));
    expect(decodeError(frames, { maxHeaderBytes: 100 })).toBeInstanceOf(LimitError);
    expect(decodeError(frames, { maxHeaderBytes: 102 })).toBeUndefined();
  });

  it('enforces the nesting depth (default 64)', () => {
    expect(decodeError([nest(64)])).toBeUndefined();
    expect(decodeError([nest(65)])).toBeInstanceOf(LimitError);
    expect(decodeError([nest(100_000)])).toBeInstanceOf(LimitError);
    expect(decodeError([nest(3)], { maxDepth: 2 })).toBeInstanceOf(LimitError);
  });

  it('enforces string length before reading the string', () => {
    // A str 32 announcing 4 GiB in a 5-byte header: over the limit, so never treated as merely truncated.
    expect(decodeError([Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff)])).toBeInstanceOf(LimitError);
    const frames = encodeMessage('hello');
    expect(decodeError(frames, { maxStringBytes: 4 })).toBeInstanceOf(LimitError);
    expect(decodeError(frames, { maxStringBytes: 5 })).toBeUndefined();
  });

  it('enforces collection length before allocating', () => {
    expect(decodeError([Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff)])).toBeInstanceOf(LimitError);
    expect(decodeError([Uint8Array.of(0xdf, 0xff, 0xff, 0xff, 0xff)])).toBeInstanceOf(LimitError);
    expect(decodeError(encodeMessage([1, 2, 3]), { maxCollectionLength: 2 })).toBeInstanceOf(LimitError);
    expect(decodeError(encodeMessage({ a: 1, b: 2, c: 3 }), { maxCollectionLength: 2 })).toBeInstanceOf(LimitError);
    // Announced entries that the bytes left cannot hold are rejected before the array is made, too.
    expect(decodeError([Uint8Array.of(0xdc, 0x10, 0x00)])).toBeInstanceOf(ProtocolError);
  });
});

const isDecodeError = (e: unknown): boolean => e instanceof ProtocolError || e instanceof LimitError;

describe('malformed input', () => {
  it('only ever throws ProtocolError or LimitError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 0, maxLength: 4 }), (frames) => {
        const e = decodeError(frames);
        expect(e === undefined || isDecodeError(e)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('only ever throws ProtocolError or LimitError on mutated valid messages (property)', () => {
    fc.assert(
      fc.property(
        valueArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (v, edits) => {
          const frames = encodeMessage(v, { inlineBytesMax: 8 }).map((f) => new Uint8Array(f));
          const h = frames[0]!;
          for (const [at, byte] of edits) if (h.length > 0) h[at % h.length] = byte;
          const e = decodeError(frames);
          expect(e === undefined || isDecodeError(e)).toBe(true);
        },
      ),
    );
  });

  it('rejects every truncation of a header with a ProtocolError', () => {
    const [h, ...data] = encodeMessage({
      a: [1, 2.5, 'str', 2n ** 60n, null],
      t: new Tensor('float32', Float32Array.of(1, 2), [1, 2]),
      b: Uint8Array.of(1, 2, 3),
    });
    for (let n = 1; n < h!.length; n++) {
      const e = decodeError([h!.subarray(0, n), ...data]);
      expect(e, `prefix of ${n} bytes`).toBeInstanceOf(ProtocolError);
    }
  });

  it('rejects bad frame references', () => {
    const ref = (r: number): Frame =>
      header((w) =>
        w.ext(
          1,
          header((b) => b.int(r)),
        ),
      );
    expect(decodeError([ref(2), new Uint8Array(1)])).toBeInstanceOf(ProtocolError);
    expect(decodeError([ref(0), new Uint8Array(1)])).toBeInstanceOf(ProtocolError);
    const twice = header((w) => {
      w.arrayHeader(2);
      w.ext(
        1,
        header((b) => b.int(1)),
      );
      w.ext(
        1,
        header((b) => b.int(1)),
      );
    });
    expect(String(decodeError([twice, new Uint8Array(1)]))).toMatch(/referenced twice/);
    expect(String(decodeError([Uint8Array.of(0xc0), new Uint8Array(1)]))).toMatch(/frame 1 is not referenced/);
  });

  it('rejects frames that are not a whole number of elements', () => {
    const h = header((w) =>
      w.ext(
        2,
        header((b) => {
          b.arrayHeader(2);
          b.string('float64');
          b.int(1);
        }),
      ),
    );
    expect(String(decodeError([h, new Uint8Array(12)]))).toMatch(/not a whole number of float64 elements/);
  });

  it('rejects tensors whose shape does not match their data, and unknown dtypes', () => {
    const tensor = (dtype: string, shape: number[]): Frame =>
      header((w) =>
        w.ext(
          EXT_TENSOR,
          header((b) => {
            b.arrayHeader(3);
            b.string(dtype);
            b.arrayHeader(shape.length);
            for (const d of shape) b.int(d);
            b.int(1);
          }),
        ),
      );
    expect(String(decodeError([tensor('float32', [2, 3]), new Uint8Array(20)]))).toMatch(/needs 6 elements/);
    expect(String(decodeError([tensor('complex64', [1]), new Uint8Array(8)]))).toMatch(/unknown dtype "complex64"/);
    expect(decodeError([tensor('float32', [2 ** 40, 2 ** 40]), new Uint8Array(4)])).toBeInstanceOf(ProtocolError);
  });

  it('rejects invalid UTF-8, reserved bytes, duplicate keys and non-string keys', () => {
    expect(String(decodeError([Uint8Array.of(0xa2, 0xc3, 0x28)]))).toMatch(/UTF-8/);
    expect(decodeError([Uint8Array.of(0xc1)])).toBeInstanceOf(ProtocolError);
    expect(String(decodeError([Uint8Array.from(Buffer.from('82a16101a16102', 'hex'))]))).toMatch(/duplicate map key/);
    expect(decodeError([Uint8Array.of(0x81, 0xc0, 0x01)])).toBeInstanceOf(ProtocolError);
  });

  it('rejects ext values nested inside ext bodies (no unbounded recursion)', () => {
    let body = header((b) => b.int(1));
    for (let i = 0; i < 10_000; i++) body = header((w) => w.ext(1, body));
    const e = decodeError([body, new Uint8Array(1)]);
    expect(e).toBeInstanceOf(ProtocolError);
  });
});

describe('compression', () => {
  const lz4 = { compression: { codec: 'lz4' as const, minBytes: 64 } };
  const compressible = fc
    .array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 300 })), { maxLength: 40 })
    .map((runs) => Uint8Array.from(runs.flatMap(([b, n]) => new Array<number>(n).fill(b))));

  it('is off by default', () => {
    const t = new Tensor('float32', new Float32Array(1 << 16), [1 << 16]);
    const frames = encodeMessage(t);
    expect(frames[1]!.buffer).toBe(t.data.buffer);
  });

  it('round-trips tensors, typed arrays and bytes with compression on (property)', () => {
    fc.assert(
      fc.property(compressible, fc.constantFrom('bytes', 'tensor', 'typed'), (bytes, kind) => {
        const even = bytes.subarray(0, bytes.length & ~3);
        const value =
          kind === 'bytes'
            ? bytes
            : kind === 'tensor'
              ? new Tensor('uint16', new Uint16Array(new Uint8Array(even).buffer), [even.length / 2])
              : new Float32Array(new Uint8Array(even).buffer);
        const frames = encodeMessage({ value }, { ...lz4, inlineBytesMax: 16 });
        const back = decodeMessage(frames) as { value: unknown };
        expect(toTagged(back.value)).toEqual(toTagged(value));
        for (const f of frames.slice(1)) expect(f.byteLength).toBeLessThanOrEqual(bytes.byteLength);
      }),
    );
  });

  it('compresses frames of at least minBytes, and keeps them only when smaller', () => {
    const zeros = new Tensor('float32', new Float32Array(4096), [4096]);
    const frames = encodeMessage(zeros, lz4);
    expect(frames[1]!.byteLength).toBeLessThan(zeros.byteLength / 10);
    const back = decodeMessage(frames) as Tensor<'float32'>;
    expect(back.data).toEqual(zeros.data);
    expect(encodeMessage(new Tensor('uint8', new Uint8Array(63), [63]), lz4)[1]!.byteLength).toBe(63);
    const noisy = new Uint8Array(randomBytes(4096));
    const raw = encodeMessage(new Tensor('uint8', noisy, [4096]), lz4);
    expect(raw[1]!.buffer).toBe(noisy.buffer);
  });

  it('uses the default minBytes of 64 KiB', () => {
    const small = encodeMessage(new Uint8Array(65535), { compression: { codec: 'lz4' } });
    expect(small[1]!.byteLength).toBe(65535);
    const large = encodeMessage(new Uint8Array(65536), { compression: { codec: 'lz4' } });
    expect(large[1]!.byteLength).toBeLessThan(1000);
  });

  it('checks the declared size against the message limit before decompressing', () => {
    const frames = encodeMessage(new Uint8Array(100_000), lz4);
    expect(frames[1]!.byteLength).toBeLessThan(1000);
    expect(decodeError(frames, { maxMessageBytes: 50_000 })).toBeInstanceOf(LimitError);
    expect(decodeError(frames, { maxMessageBytes: 100_100 })).toBeUndefined();
  });

  it('rejects corrupt compressed frames with ProtocolError only (property)', () => {
    const frames = encodeMessage(
      Uint8Array.from({ length: 5000 }, (_, i) => (i % 251) & 0xf),
      lz4,
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
        fc.nat(),
        (edits, cut) => {
          const data = new Uint8Array(frames[1]!);
          for (const [at, byte] of edits) data[at % data.length] = byte;
          const e = decodeError([frames[0]!, data.subarray(0, data.length - (cut % 3))]);
          expect(e === undefined || e instanceof ProtocolError).toBe(true);
        },
      ),
    );
  });

  it('rejects a declared size that differs from the block', () => {
    const [h, data] = encodeMessage(new Uint8Array(2000), lz4);
    const tampered = Buffer.from(h!).toString('hex').replace('cd07d0', 'cd07d1');
    expect(tampered).not.toBe(Buffer.from(h!).toString('hex'));
    expect(String(decodeError([Buffer.from(tampered, 'hex'), data!]))).toMatch(/declared/);
  });
});
