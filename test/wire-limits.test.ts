/**
 * Decode work bounded by what was received, and the validation rules of issue 10 ("Hostile and buggy peers"): the
 * value-count limit, LZ4 output counted against maxMessageBytes, bool bytes, integer dims, duplicate names, and
 * error texts that never echo more than a few hundred characters of peer input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_VALUES } from '../src/core/defaults.js';
import { InvalidArgumentError, LimitError, NotFoundError, ProtocolError } from '../src/core/errors.js';
import { PEER_TEXT_MAX, peerText, truncateText } from '../src/core/peer-text.js';
import { Tensor } from '../src/tensor/tensor.js';
import { type DecodeLimits, decodeMessage, encodeMessage, type Frame, firstNonBoolByte } from '../src/wire/codec.js';
import { decodeEnvelope, encodeError, errorToWire, WIRE_ERROR_MESSAGE_MAX } from '../src/wire/envelopes.js';
import { MsgpackWriter } from '../src/wire/msgpack-writer.js';
import { refuseDuplicateNames } from '../src/wire/unique.js';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

function header(build: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter();
  build(w);
  return w.finish();
}

/** An array of `n` empty maps: `n + 1` values in `n + 5` bytes. */
function emptyMaps(n: number): Uint8Array {
  const out = new Uint8Array(5 + n).fill(0x80);
  out[0] = 0xdd;
  new DataView(out.buffer).setUint32(1, n);
  return out;
}

function extBody(type: number, body: (w: MsgpackWriter) => void): Uint8Array {
  const inner = new MsgpackWriter();
  body(inner);
  return header((w) => w.ext(type, inner.finish()));
}

describe('maxValues', () => {
  it('defaults to 1 000 000 values: an array of 999 999 empty maps decodes, one more is refused', () => {
    expect(DEFAULT_MAX_VALUES).toBe(1_000_000);
    expect((decodeMessage([emptyMaps(999_999)]) as unknown[]).length).toBe(999_999);
    expect(thrown(() => decodeMessage([emptyMaps(1_000_000)]))).toBeInstanceOf(LimitError);
  });

  it('refuses a 16 MiB header of empty maps quickly, before building them', () => {
    // 16 arrays of 1 M - 1 empty maps each: every collection respects maxCollectionLength, the whole is 16 M values.
    const parts = Array.from({ length: 16 }, () => emptyMaps(999_999));
    const body = new Uint8Array(3 + parts.reduce((n, p) => n + p.length, 0));
    body.set([0xdc, 0, 16]);
    let at = 3;
    for (const p of parts) {
      body.set(p, at);
      at += p.length;
    }
    const started = performance.now();
    expect(thrown(() => decodeMessage([body]))).toBeInstanceOf(LimitError);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it('counts map keys and entries inside ext bodies', () => {
    const two = header((w) => {
      w.mapHeader(2);
      w.string('a');
      w.nil();
      w.string('b');
      w.nil();
    });
    expect(decodeMessage([two], { maxValues: 5 })).toEqual({ a: null, b: null });
    expect(thrown(() => decodeMessage([two], { maxValues: 4 }))).toBeInstanceOf(LimitError);
    const frames = encodeMessage(new Tensor('uint8', new Uint8Array(4), [2, 2]));
    // ext value (1) + its body [dtype, shape, ref] (3 entries) + shape entries (2) + root of the body: within 8.
    expect(decodeMessage(frames, { maxValues: 8 })).toBeInstanceOf(Tensor);
    expect(thrown(() => decodeMessage(frames, { maxValues: 5 }))).toBeInstanceOf(LimitError);
  });

  it('property: any message holding more values than maxValues is refused with LimitError, never a crash', () => {
    const tree = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.integer(),
        fc.string({ maxLength: 4 }),
        fc.array(tie('v'), { maxLength: 6 }),
        fc.dictionary(fc.string({ maxLength: 3 }), tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    const count = (v: unknown): number => {
      if (Array.isArray(v)) return 1 + v.reduce((n: number, x) => n + count(x), 0);
      if (v !== null && typeof v === 'object') {
        return 1 + Object.values(v).reduce((n: number, x) => n + 1 + count(x), 0);
      }
      return 1;
    };
    fc.assert(
      fc.property(tree, fc.nat({ max: 64 }), (v, max) => {
        const frames = encodeMessage(v);
        const n = count(v);
        const e = thrown(() => decodeMessage(frames, { maxValues: max }));
        if (n > max) expect(e).toBeInstanceOf(LimitError);
        else expect(e).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});

describe('LZ4 output counts against maxMessageBytes', () => {
  const lz4Ref = (raw: number) =>
    extBody(1, (b) => {
      b.arrayHeader(3);
      b.int(1);
      b.string('lz4');
      b.int(raw);
    });

  it('refuses a frame declaring more than maxMessageBytes before allocating its output', () => {
    // 4.3 MB of input could hold 1 GiB + 1 by the 255x rule; the limit refuses it before any allocation.
    const frame = new Uint8Array(4_300_000);
    const started = performance.now();
    const e = thrown(() => decodeMessage([lz4Ref(1024 ** 3 + 1), frame]));
    expect(e).toBeInstanceOf(LimitError);
    expect(performance.now() - started).toBeLessThan(200);
    expect(thrown(() => decodeMessage([lz4Ref(5_000_000), frame], { maxMessageBytes: 4_999_999 }))).toBeInstanceOf(
      LimitError,
    );
  });

  it('sums the decompressed sizes of all compressed frames with the raw ones', () => {
    const data = new Uint8Array(100_000).fill(7);
    const frames = encodeMessage([data, data, new Uint8Array(2000)], { compression: { codec: 'lz4', minBytes: 1 } });
    expect(frames[1]!.byteLength).toBeLessThan(1000);
    const total = 200_000 + 2000 + frames[0]!.byteLength;
    expect(decodeMessage(frames, { maxMessageBytes: total })).toHaveLength(3);
    expect(thrown(() => decodeMessage(frames, { maxMessageBytes: total - 1 }))).toBeInstanceOf(LimitError);
  });
});

describe('tensor validation', () => {
  const tensorHeader = (dtype: string, dims: (w: MsgpackWriter) => void) =>
    extBody(3, (b) => {
      b.arrayHeader(3);
      b.string(dtype);
      dims(b);
      b.int(1);
    });

  it('refuses bool bytes other than 0 and 1, in tensors and typed arrays', () => {
    const h = tensorHeader('bool', (b) => {
      b.arrayHeader(1);
      b.int(3);
    });
    expect(decodeMessage([h, Uint8Array.of(0, 1, 1)])).toBeInstanceOf(Tensor);
    expect(thrown(() => decodeMessage([h, Uint8Array.of(0, 1, 2)]))).toBeInstanceOf(ProtocolError);
    const arr = extBody(2, (b) => {
      b.arrayHeader(2);
      b.string('bool');
      b.int(1);
    });
    expect(thrown(() => decodeMessage([arr, Uint8Array.of(255)]))).toBeInstanceOf(ProtocolError);
  });

  it('firstNonBoolByte finds the first bad byte at any position and alignment', () => {
    fc.assert(
      fc.property(fc.nat({ max: 300 }), fc.nat({ max: 7 }), fc.integer({ min: -1, max: 299 }), (n, off, bad) => {
        const buf = new Uint8Array(n + off);
        const view = buf.subarray(off);
        for (let i = 0; i < n; i++) view[i] = i & 1;
        if (bad >= 0 && bad < n) view[bad] = 2 + (bad % 250);
        expect(firstNonBoolByte(view)).toBe(bad >= 0 && bad < n ? bad : -1);
      }),
    );
  });

  it('the encoder refuses a bool tensor holding other bytes (InvalidArgumentError naming the path)', () => {
    const e = thrown(() => encodeMessage({ mask: new Tensor('bool', Uint8Array.of(0, 7), [2]) }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).field).toBe('payload.mask');
  });

  it('refuses float dims (2.0, -0) and float frame references', () => {
    const float2 = tensorHeader('uint8', (b) => {
      b.arrayHeader(1);
      b.float64(2);
    });
    expect(thrown(() => decodeMessage([float2, Uint8Array.of(1, 2)]))).toBeInstanceOf(ProtocolError);
    const negZero = tensorHeader('uint8', (b) => {
      b.arrayHeader(1);
      b.float64(-0);
    });
    expect(thrown(() => decodeMessage([negZero, new Uint8Array(0)]))).toBeInstanceOf(ProtocolError);
    expect(thrown(() => decodeMessage([extBody(1, (b) => b.float64(1)), Uint8Array.of(1)]))).toBeInstanceOf(
      ProtocolError,
    );
  });

  it('checks product(shape) x itemsize against the frame length in bytes', () => {
    const h = tensorHeader('float32', (b) => {
      b.arrayHeader(2);
      b.int(2);
      b.int(2);
    });
    expect(decodeMessage([h, new Uint8Array(16)])).toBeInstanceOf(Tensor);
    expect(thrown(() => decodeMessage([h, new Uint8Array(12)]))).toBeInstanceOf(ProtocolError);
    const huge = tensorHeader('float32', (b) => {
      b.arrayHeader(3);
      b.int(2 ** 40);
      b.int(2 ** 40);
      b.int(0);
    });
    expect(decodeMessage([huge, new Uint8Array(0)])).toBeInstanceOf(Tensor);
  });
});

describe('duplicate names', () => {
  it('a decoded map repeating a key is a ProtocolError whose message stays short', () => {
    const long = 'k'.repeat(1_000_000);
    const h = header((w) => {
      w.mapHeader(2);
      w.string(long);
      w.nil();
      w.string(long);
      w.nil();
    });
    const e = thrown(() => decodeMessage([h]));
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as Error).message.length).toBeLessThan(400);
  });

  it('refuseDuplicateNames refuses a repeated string in a list, and passes anything else', () => {
    expect(() => refuseDuplicateNames(['a', 'b', 'c'], 'keys')).not.toThrow();
    expect(() => refuseDuplicateNames(undefined, 'keys')).not.toThrow();
    expect(() => refuseDuplicateNames([1, 1], 'keys')).not.toThrow();
    const many = new Array<string>(1_000_000).fill('cam1');
    expect(thrown(() => refuseDuplicateNames(many, 'observation keys'))).toBeInstanceOf(ProtocolError);
  });
});

describe('peer text', () => {
  it('quotes short strings as JSON and cuts long ones with the count of what was left out', () => {
    expect(peerText('echo')).toBe('"echo"');
    expect(peerText('a'.repeat(250))).toBe(`"${'a'.repeat(200)}"… (50 more chars)`);
    expect(truncateText('abcdef', 3)).toBe('abc… (3 more chars)');
    expect(peerText(12)).toBe('12');
    expect(peerText(-0)).toBe('-0');
    expect(peerText(null)).toBe('null');
    expect(peerText(new Uint8Array(20 * 1024 * 1024))).toBe('<Uint8Array of 20971520 bytes>');
    expect(peerText(new Array(1_000_000))).toBe('[array of 1000000]');
  });

  it('property: the result is bounded whatever the input, and never splits a surrogate pair', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 600 }), fc.integer({ min: 1, max: 300 }), (s, max) => {
        const out = peerText(s, max);
        expect(out.length).toBeLessThanOrEqual(max * 6 + 40);
        expect(() => encodeURIComponent(truncateText(s, max))).not.toThrow();
      }),
    );
    expect(peerText('x'.repeat(15 * 1024 * 1024)).length).toBeLessThan(PEER_TEXT_MAX + 40);
  });

  it('error replies are bounded: message, name and fields', () => {
    const w = errorToWire(new NotFoundError(`unknown ${'z'.repeat(100_000)}`));
    expect(w.message.length).toBeLessThanOrEqual(WIRE_ERROR_MESSAGE_MAX + 30);
    const e = new Error('boom');
    e.name = 'N'.repeat(100_000);
    expect(errorToWire(e).name.length).toBeLessThan(PEER_TEXT_MAX + 30);
    const frames = encodeError(1, new NotFoundError('y'.repeat(15 * 1024 * 1024)));
    expect(frames[0]!.byteLength).toBeLessThan(10_000);
    const env = decodeEnvelope(frames);
    expect(env.kind).toBe('err');
  });

  it('envelope errors quote at most a few hundred characters of a bad version or kind', () => {
    const bad = (v: unknown, k: unknown): Frame[] => encodeMessage({ v, k, id: 1, m: 'x' }) as Frame[];
    const limits: DecodeLimits = {};
    for (const frames of [bad('v'.repeat(1_000_000), 'req'), bad(1, 'k'.repeat(1_000_000)), bad([...'abc'], 'req')]) {
      const e = thrown(() => decodeEnvelope(frames, limits));
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as Error).message.length).toBeLessThan(400);
    }
  });
});
