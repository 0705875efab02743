/**
 * Writes the golden vectors of the wire format: `vectors.json` (messages and their meaning, in the tagged JSON form
 * of tagged.ts) and `invalid.json` (messages a decoder must reject, with the error class). Run with `npm run vectors`;
 * the output is deterministic, and test/vectors/vectors.test.ts checks the committed files match this generator.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigMismatchError, NotFoundError, RemoteError } from '../../src/core/errors.js';
import { Image } from '../../src/tensor/image.js';
import { DTYPES, type DType, type DTypeArrayMap, Tensor } from '../../src/tensor/tensor.js';
import {
  type DecodeLimits,
  decodeMessage,
  type EncodeOptions,
  encodeMessage,
  type Frame,
} from '../../src/wire/codec.js';
import { encodeError, encodePublish, encodeReply, encodeRequest } from '../../src/wire/envelopes.js';
import { MsgpackWriter } from '../../src/wire/msgpack-writer.js';
import { JPEG_3X2, PNG_3X2, WEBP_3X2, WEBP_LOSSLESS_3X2 } from './images.js';
import { type Json, toTagged } from './tagged.js';

/** A message and its meaning. */
export interface Vector {
  name: string;
  description: string;
  /** Encoder options that reproduce `frames` from the value (absent: the defaults). */
  encode?: Json;
  frames: string[];
  value: Json;
}

/** A message a decoder must reject. */
export interface InvalidVector {
  name: string;
  description: string;
  /** `message`: decoding the frames fails; `envelope`: the frames decode, but the envelope is invalid. */
  level: 'message' | 'envelope';
  /** Decoder limits to apply (absent: the defaults). */
  limits?: Json;
  frames: string[];
  error: 'ProtocolError' | 'LimitError';
}

const hex = (f: Frame): string => Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('hex');

/** Deterministic pseudo-random bytes (a 32-bit LCG), so the vectors never change between runs. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const SAMPLES: { [K in DType]: DTypeArrayMap[K] } = {
  bool: Uint8Array.of(1, 0, 1, 1, 0, 0),
  int8: Int8Array.of(-128, -1, 0, 1, 42, 127),
  uint8: Uint8Array.of(0, 1, 127, 128, 200, 255),
  int16: Int16Array.of(-32768, -1, 0, 1, 1000, 32767),
  uint16: Uint16Array.of(0, 1, 255, 256, 40000, 65535),
  int32: Int32Array.of(-2147483648, -1, 0, 1, 123456, 2147483647),
  uint32: Uint32Array.of(0, 1, 65536, 2147483648, 3000000000, 4294967295),
  int64: BigInt64Array.of(-(2n ** 63n), -1n, 0n, 1n, 2n ** 53n + 1n, 2n ** 63n - 1n),
  uint64: BigUint64Array.of(0n, 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n),
  // float16 and bfloat16 travel as raw bits: 1.0, -2.0, 0.5, +inf, NaN, 0.
  float16: Uint16Array.of(0x3c00, 0xc000, 0x3800, 0x7c00, 0x7e00, 0x0000),
  bfloat16: Uint16Array.of(0x3f80, 0xc000, 0x3f00, 0x7f80, 0x7fc0, 0x0000),
  float32: Float32Array.of(1.5, -2, 0.1, Number.POSITIVE_INFINITY, Number.NaN, -0),
  float64: Float64Array.of(1.5, -2, 0.1, Number.MAX_VALUE, Number.MIN_VALUE, -0),
};

function valueVectors(): [string, string, unknown, EncodeOptions?][] {
  const v: [string, string, unknown, EncodeOptions?][] = [
    ['nil', 'null is msgpack nil', null],
    ['true', 'boolean true', true],
    ['false', 'boolean false', false],
    ['int-fixint', 'a small non-negative integer is a positive fixint', 7],
    ['int-uint8', 'integers use the shortest msgpack form: uint 8', 200],
    ['int-uint16', 'uint 16', 60000],
    ['int-uint32', 'uint 32', 4000000000],
    ['int-uint64-safe', '2^53 - 1 needs uint 64 and still arrives as a number', Number.MAX_SAFE_INTEGER],
    ['int-negative-fixint', 'negative fixint', -1],
    ['int-int8', 'int 8', -100],
    ['int-int16', 'int 16', -30000],
    ['int-int32', 'int 32', -2000000000],
    ['int-int64-safe', '-(2^53 - 1) needs int 64 and still arrives as a number', Number.MIN_SAFE_INTEGER],
    ['bigint-2^53', 'an integer beyond 2^53 - 1 is uint 64 and arrives as a bigint', 2n ** 53n],
    ['bigint-uint64-max', 'the largest uint 64', 2n ** 64n - 1n],
    ['bigint-int64-min', 'the smallest int 64', -(2n ** 63n)],
    ['bigint-small', 'a bigint in the safe range travels as a plain integer (arrives as a number)', 5n],
    ['float', 'non-integers are float 64', 1.5],
    ['float-negative', 'negative float 64', -0.1],
    ['float-large-integer', 'a number beyond 2^53 that is not a bigint stays float 64', 2 ** 60],
    ['float-nan', 'NaN is float 64', Number.NaN],
    ['float-infinity', '+Infinity', Number.POSITIVE_INFINITY],
    ['float-negative-infinity', '-Infinity', Number.NEGATIVE_INFINITY],
    ['float-negative-zero', '-0 is float 64 (not the integer 0)', -0],
    ['string-empty', 'empty string', ''],
    ['string-ascii', 'fixstr', 'hello'],
    ['string-unicode', 'UTF-8, including 4-byte sequences', 'héllo wörld ✓ 日本語 🤖'],
    ['string-str8', 'a string of 40 bytes is str 8', 'x'.repeat(40)],
    ['string-str16', 'a string of 300 bytes is str 16', 'abc'.repeat(100)],
    ['array-empty', 'empty array', []],
    ['array-mixed', 'arrays hold any values', [1, 'two', null, true, 2.5]],
    ['array16', 'an array of 20 entries is array 16', Array.from({ length: 20 }, (_, i) => i)],
    ['map-empty', 'empty map', {}],
    ['map16', 'a map of 20 entries is map 16', Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))],
    ['nested', 'maps and arrays nest', { a: [1, { b: null, c: [[]] }], d: { e: { f: 'deep' } } }],
    [
      'map-special-keys',
      'keys such as __proto__ and constructor are ordinary keys',
      JSON.parse('{"__proto__": 1, "constructor": 2, "prototype": 3}'),
    ],
    ['map-dollar-key', 'a map whose only key starts with $ (tagged form: $map)', { $x: 1 }],
    ['bytes-empty', 'an empty byte string is inline bin', new Uint8Array(0)],
    ['bytes-inline', 'short byte strings are inline bin 8', Uint8Array.of(0, 1, 2, 0xfe, 0xff)],
    ['bytes-inline-1023', 'byte strings below inlineBytesMax (1024) stay inline: bin 16', noise(1023, 1)],
    ['bytes-frame', 'byte strings of at least 1024 bytes travel as their own frame (ext 1)', noise(1024, 2)],
    [
      'bytes-frame-custom-threshold',
      'with inlineBytesMax 4, a 4-byte string travels as a frame',
      Uint8Array.of(9, 8, 7, 6),
      { inlineBytesMax: 4 },
    ],
  ];
  const typed: [string, ArrayBufferView][] = [
    ['int8', Int8Array.of(-1, 2, -3)],
    ['int16', Int16Array.of(-1, 2, -3)],
    ['uint16', Uint16Array.of(1, 2, 65535)],
    ['int32', Int32Array.of(-1, 2, -3)],
    ['uint32', Uint32Array.of(1, 2, 4294967295)],
    ['int64', BigInt64Array.of(-1n, 2n ** 62n)],
    ['uint64', BigUint64Array.of(1n, 2n ** 64n - 1n)],
    ['float32', Float32Array.of(1.5, -2, 0.25)],
    ['float64', Float64Array.of(1.5, -2, 0.1)],
  ];
  for (const [dtype, data] of typed) {
    v.push([`typed-array-${dtype}`, `a typed array of dtype ${dtype} (ext 2) and its own frame`, data]);
  }
  for (const dtype of DTYPES) {
    const data = SAMPLES[dtype];
    v.push([`tensor-${dtype}`, `a 2x3 tensor of dtype ${dtype} (ext 3)`, new Tensor(dtype, data as never, [2, 3])]);
  }
  v.push(
    ['tensor-0d', 'a 0-d tensor (shape []) holds one element', new Tensor('float32', Float32Array.of(3.25), [])],
    [
      'tensor-empty',
      'an empty tensor of shape [0, 3]: its frame is empty',
      new Tensor('float32', new Float32Array(0), [0, 3]),
    ],
    ['tensor-1d', 'a 1-d tensor', new Tensor('int32', Int32Array.of(1, 2, 3, 4), [4])],
    [
      'tensor-4d',
      'a 4-d tensor (C order)',
      new Tensor(
        'uint8',
        Uint8Array.from({ length: 24 }, (_, i) => i),
        [1, 2, 3, 4],
      ),
    ],
    [
      'multiple-frames',
      'frames are numbered in the order the encoder meets the values (depth first, map order)',
      {
        image: new Tensor('uint8', Uint8Array.of(10, 20, 30, 40), [2, 2, 1]),
        state: Float32Array.of(0.5, -0.5),
        blob: noise(1024, 3),
        list: [new Tensor('float64', Float64Array.of(1), [1])],
      },
    ],
  );
  v.push(
    [
      'image-jpeg',
      'an encoded JPEG image, 3 wide and 2 high, RGB (ext 4): its bytes in their own frame',
      new Image(JPEG_3X2),
    ],
    ['image-png', 'an encoded PNG image (ext 4); images never travel inline, however small', new Image(PNG_3X2)],
    ['image-webp', 'an encoded lossy WebP image (VP8, ext 4)', new Image(WEBP_3X2)],
    ['image-webp-lossless', 'an encoded lossless WebP image (VP8L, ext 4)', new Image(WEBP_LOSSLESS_3X2)],
    [
      'image-in-payload',
      'an image beside a tensor: frames numbered in the order met',
      { cam1: new Image(JPEG_3X2), depth: new Tensor('uint16', Uint16Array.of(1, 2, 3, 4, 5, 6), [2, 3]) },
    ],
  );
  const lz4 = { compression: { codec: 'lz4', minBytes: 64 } } as const;
  v.push(
    [
      'lz4-tensor',
      'a compressible tensor frame with compression on (minBytes 64): reference [index, "lz4", rawByteLength]',
      new Tensor(
        'float32',
        Float32Array.from({ length: 256 }, (_, i) => Math.floor(i / 64)),
        [16, 16],
      ),
      lz4,
    ],
    ['lz4-typed-array', 'a compressible typed array frame', Int16Array.from({ length: 200 }, (_, i) => i % 10), lz4],
    ['lz4-bytes', 'a compressible byte string frame (ext 1 body is the reference)', new Uint8Array(4096).fill(7), lz4],
    [
      'lz4-not-smaller',
      'an incompressible frame stays uncompressed (plain index) even with compression on',
      new Tensor('uint8', noise(512, 4), [512]),
      lz4,
    ],
    [
      'lz4-below-min',
      'frames shorter than minBytes are not compressed',
      new Tensor('uint8', new Uint8Array(32), [32]),
      lz4,
    ],
  );
  return v;
}

function envelopeVectors(): [string, string, Frame[]][] {
  const image = new Tensor('uint8', Uint8Array.of(1, 2, 3, 4, 5, 6), [1, 2, 3]);
  const remote = new RemoteError('ValueError', 'bad input shape', 'E_SHAPE');
  return [
    [
      'envelope-request',
      'a request: call the inference interface "classify" with a tensor payload',
      encodeRequest(7, 'call', 'classify', { image }),
    ],
    [
      'envelope-request-no-name',
      'a request without a name ("interfaces" lists the inference interfaces)',
      encodeRequest(8, 'interfaces', undefined, null),
    ],
    [
      'envelope-request-deadline',
      'a request carrying the caller\'s time left, 2500 ms (field "d", protocol 1.1)',
      encodeRequest(11, 'call', 'classify', { image }, undefined, 2500),
    ],
    [
      'envelope-request-key',
      'a train step carrying a step id as its idempotency key (field "u", protocol 1.1)',
      encodeRequest(12, 'train', 'agent1', { reward: 1 }, undefined, 10000, 'b3c1f0e2a9d84e7f'),
    ],
    [
      'envelope-hello',
      'the config handshake of the action and trainer modes',
      encodeRequest(1, 'hello', undefined, { mode: 'action', config: { observation_keys: ['image'], rate: 30 } }),
    ],
    [
      'envelope-hello-reply-weights',
      'a trainer accepting the handshake, naming the object store bucket of its weights (field "weights", protocol 1.3)',
      encodeReply(1, {
        weights: { bucket: 'edgeml_trainer_weights' },
        mode: 'trainer',
        config: { port_number: 5555, broadcast_port: 5556 },
      }),
    ],
    ['envelope-reply', 'a successful reply to request 7', encodeReply(7, { label: 'cat', score: 0.875 })],
    [
      'envelope-error-not-found',
      'an error reply: unknown inference interface',
      encodeError(9, new NotFoundError('unknown interface "nope"; available: classify')),
    ],
    ['envelope-error-remote', 'an error reply: the handler threw', encodeError(10, remote)],
    [
      'envelope-error-config-mismatch',
      'an error reply to hello: configs differ in the named fields',
      encodeError(1, new ConfigMismatchError('config mismatch: rate (client 30, server 10)', ['rate'])),
    ],
    [
      'envelope-publish',
      'a published message: topic, sequence number and publisher epoch',
      encodePublish('obs', 42, '0123456789abcdef', { image, step: 42 }),
    ],
  ];
}

/** Builds the valid vectors. */
export function buildVectors(): Vector[] {
  const out: Vector[] = [];
  for (const [name, description, value, options] of valueVectors()) {
    const frames = encodeMessage(value, options);
    const vector: Vector = { name, description, frames: frames.map(hex), value: toTagged(value) };
    if (options) vector.encode = options as unknown as Json;
    out.push(vector);
  }
  for (const [name, description, frames] of envelopeVectors()) {
    // The meaning is what a decoder sees: decode with the library itself, then describe it.
    out.push({ name, description, frames: frames.map(hex), value: toTagged(decodeMessage(frames)) });
  }
  return out;
}

function mp(build: (w: MsgpackWriter) => void): string {
  const w = new MsgpackWriter();
  build(w);
  return hex(w.finish());
}

function ext(type: number, body: (w: MsgpackWriter) => void): string {
  const inner = new MsgpackWriter();
  body(inner);
  return mp((w) => w.ext(type, inner.finish()));
}

/** Writes a msgpack array of integers and strings. */
function list(...items: (number | string)[]): (w: MsgpackWriter) => void {
  return (w) => {
    w.arrayHeader(items.length);
    for (const x of items) {
      if (typeof x === 'number') w.int(x);
      else w.string(x);
    }
  };
}

/** Builds the vectors that must be rejected. */
export function buildInvalid(): InvalidVector[] {
  const P = 'ProtocolError';
  const L = 'LimitError';
  const tensorExt = (dtype: string, shape: number[], ref: (w: MsgpackWriter) => void): string =>
    ext(3, (b) => {
      b.arrayHeader(3);
      b.string(dtype);
      b.arrayHeader(shape.length);
      for (const d of shape) b.int(d);
      ref(b);
    });
  const lz4Ref = (index: number, codec: string, raw: number) => list(index, codec, raw);
  const m = (
    name: string,
    description: string,
    frames: string[],
    error: 'ProtocolError' | 'LimitError',
    limits?: DecodeLimits,
  ): InvalidVector => ({
    name,
    description,
    level: 'message',
    ...(limits ? { limits: limits as Json } : {}),
    frames,
    error,
  });
  const env = (name: string, description: string, header: (w: MsgpackWriter) => void): InvalidVector => ({
    name,
    description,
    level: 'envelope',
    frames: [mp(header)],
    error: P,
  });
  const deep = `${'91'.repeat(65)}c0`;
  const imageExt = (format: string, shape: number[], ref: (w: MsgpackWriter) => void = (b) => b.int(1)): string =>
    ext(4, (b) => {
      b.arrayHeader(3);
      b.string(format);
      b.arrayHeader(shape.length);
      for (const d of shape) b.int(d);
      ref(b);
    });
  const jpeg = hex(JPEG_3X2);
  const sof = jpeg.indexOf('ffc0') / 2;
  return [
    m('no-frames', 'a message needs at least the header frame', [], P),
    m('empty-header', 'the header frame is empty', [''], P),
    m('truncated-map', 'a map of 2 entries with only 1', ['82a16101'], P),
    m('truncated-str', 'a str 8 announcing 5 bytes, holding 2', ['d9056869'], P),
    m('truncated-float', 'a float 64 cut short', ['cb3ff8'], P),
    m('trailing-bytes', 'bytes after the header value', ['c0c0'], P),
    m('reserved-byte', '0xc1 is never used in msgpack', ['c1'], P),
    m('invalid-utf8', 'strings must be valid UTF-8', ['a2c328'], P),
    m('duplicate-key', 'a map must not repeat a key', ['82a16101a16102'], P),
    m('nil-key', 'map keys are strings', ['81c001'], P),
    m('array-key', 'map keys are strings', ['819001'], P),
    m('unknown-ext', 'ext type 4 is not defined', [ext(4, (b) => b.int(1)), '00'], P),
    m('timestamp-ext', 'the msgpack timestamp (ext -1) is not part of this format', ['d6ff00000000'], P),
    m('frame-index-zero', 'frame 0 is the header and cannot be referenced', [ext(1, (b) => b.int(0))], P),
    m('frame-index-out-of-range', 'ext 1 references frame 2 of a 2-frame message', [ext(1, (b) => b.int(2)), '00'], P),
    m('frame-index-negative', 'a frame index is a positive integer', [ext(1, (b) => b.int(-1)), '00'], P),
    m('frame-index-string', 'a frame index is an integer', [ext(1, (b) => b.string('1')), '00'], P),
    m(
      'frame-referenced-twice',
      'each data frame is referenced exactly once',
      [mp((w) => w.arrayHeader(2)) + ext(1, (b) => b.int(1)) + ext(1, (b) => b.int(1)), '00'],
      P,
    ),
    m('frame-unreferenced', 'every data frame must be referenced', ['c0', '00'], P),
    m('ext-body-not-msgpack', 'an ext body is one msgpack value', [mp((w) => w.ext(1, Uint8Array.of(0xc1))), '00'], P),
    m(
      'ext-body-trailing',
      'an ext body holds exactly one msgpack value',
      [mp((w) => w.ext(1, Uint8Array.of(0x01, 0xc0))), '00'],
      P,
    ),
    m(
      'ext-in-ext-body',
      'an ext body must not hold an ext value',
      [ext(1, (b) => b.ext(1, Uint8Array.of(1))), '00'],
      P,
    ),
    m('typed-array-arity', 'a typed array body is [dtype, frame]', [ext(2, list('float32')), '00000000'], P),
    m(
      'typed-array-partial-element',
      'a float32 frame must be a multiple of 4 bytes',
      [ext(2, list('float32', 1)), '000000'],
      P,
    ),
    m('unknown-dtype', 'dtype names are the 13 listed', [tensorExt('float128', [1], (b) => b.int(1)), '00'], P),
    m('dtype-case', 'dtype names are case-sensitive', [tensorExt('Float32', [1], (b) => b.int(1)), '00000000'], P),
    m(
      'tensor-shape-mismatch',
      'shape [2, 2] needs 4 float32 elements (16 bytes), the frame holds 3',
      [tensorExt('float32', [2, 2], (b) => b.int(1)), '000000000000000000000000'],
      P,
    ),
    m(
      'tensor-negative-dim',
      'tensor dimensions are non-negative integers',
      [
        ext(3, (b) => {
          b.arrayHeader(3);
          b.string('uint8');
          b.arrayHeader(1);
          b.int(-1);
          b.int(1);
        }),
        '',
      ],
      P,
    ),
    m(
      'tensor-float-dim',
      'tensor dimensions are integers',
      [
        ext(3, (b) => {
          b.arrayHeader(3);
          b.string('uint8');
          b.arrayHeader(1);
          b.float64(1.5);
          b.int(1);
        }),
        '00',
      ],
      P,
    ),
    m(
      'tensor-float-integral-dim',
      'tensor dimensions are msgpack integers: a float 2.0 is invalid even though it is whole',
      [
        ext(3, (b) => {
          b.arrayHeader(3);
          b.string('uint8');
          b.arrayHeader(1);
          b.float64(2);
          b.int(1);
        }),
        '0000',
      ],
      P,
    ),
    m(
      'tensor-negative-zero-dim',
      'tensor dimensions are msgpack integers: the float -0 is invalid',
      [
        ext(3, (b) => {
          b.arrayHeader(3);
          b.string('uint8');
          b.arrayHeader(1);
          b.float64(-0);
          b.int(1);
        }),
        '',
      ],
      P,
    ),
    m(
      'frame-ref-float',
      'a frame reference is a msgpack integer: the float 1.0 is invalid',
      [ext(1, (b) => b.float64(1)), '00'],
      P,
    ),
    m(
      'bool-tensor-byte',
      'bool elements are the bytes 0 and 1: 2 is invalid',
      [tensorExt('bool', [3], (b) => b.int(1)), '000102'],
      P,
    ),
    m('bool-array-byte', 'a bool typed array holds only 0 and 1 bytes', [ext(2, list('bool', 1)), '01ff'], P),
    m(
      'duplicate-key-nested',
      'a map inside the payload must not repeat a key either',
      [
        mp((w) => {
          w.mapHeader(1);
          w.string('p');
          w.mapHeader(2);
          w.string('a');
          w.int(1);
          w.string('a');
          w.int(2);
        }),
      ],
      P,
    ),
    m(
      'values-custom',
      'maxValues 4: an array of two maps of one entry each is 7 values',
      [`92${'81a16101'.repeat(2)}`],
      L,
      {
        maxValues: 4,
      },
    ),
    m('depth', '65 nested arrays exceed the default depth limit of 64', [deep], L),
    m('depth-custom', 'maxDepth 2: three nested arrays are too deep', ['919191c0'], L, { maxDepth: 2 }),
    m(
      'array-length',
      'an array announcing 2^32 - 1 entries: over the limit before anything is read',
      ['ddffffffff'],
      L,
    ),
    m('map-length', 'a map announcing 2^32 - 1 entries', ['dfffffffff'], L),
    m('collection-custom', 'maxCollectionLength 2: an array of 3', ['93010203'], L, { maxCollectionLength: 2 }),
    m('string-length', 'maxStringBytes 4: a 5-byte string', ['a568656c6c6f'], L, { maxStringBytes: 4 }),
    m('header-bytes', 'maxHeaderBytes 4: a 6-byte header', ['a568656c6c6f'], L, { maxHeaderBytes: 4 }),
    m(
      'message-bytes',
      'maxMessageBytes 8: a 3-byte header and an 8-byte frame',
      [ext(1, (b) => b.int(1)), '0001020304050607'],
      L,
      {
        maxMessageBytes: 8,
      },
    ),
    m('frames', 'maxFrames 2: a message of 3 frames', ['c0', '00', '00'], L, { maxFrames: 2 }),
    m('lz4-unknown-codec', 'the only compression codec is "lz4"', [ext(1, lz4Ref(1, 'zstd', 4)), '4001020304'], P),
    m(
      'lz4-ref-arity',
      'a compressed reference is [index, "lz4", rawByteLength]',
      [ext(1, list(1, 'lz4')), '4001020304'],
      P,
    ),
    m('lz4-size-too-large', 'the block decodes to 4 bytes, 5 declared', [ext(1, lz4Ref(1, 'lz4', 5)), '4001020304'], P),
    m('lz4-size-too-small', 'the block decodes to 4 bytes, 3 declared', [ext(1, lz4Ref(1, 'lz4', 3)), '4001020304'], P),
    m('lz4-offset-zero', 'a match offset of 0 is invalid', [ext(1, lz4Ref(1, 'lz4', 10)), '10610000500000000000'], P),
    m(
      'lz4-offset-before-start',
      'a match may not point before the start of the output',
      [ext(1, lz4Ref(1, 'lz4', 10)), '10610200500000000000'],
      P,
    ),
    m('lz4-truncated', 'the block ends inside a literal run', [ext(1, lz4Ref(1, 'lz4', 4)), '400102'], P),
    m('lz4-empty', 'an LZ4 block is at least one byte', [ext(1, lz4Ref(1, 'lz4', 0)), ''], P),
    m(
      'lz4-ratio',
      'LZ4 expands at most 255 times: 5 bytes cannot hold 2000',
      [ext(1, lz4Ref(1, 'lz4', 2000)), '4001020304'],
      P,
    ),
    m(
      'lz4-over-limit',
      'maxMessageBytes 1000: 1200 declared decompressed bytes exceed it (checked before allocating)',
      [ext(1, lz4Ref(1, 'lz4', 1200)), '4001020304'],
      L,
      { maxMessageBytes: 1000 },
    ),
    m('image-unknown-format', 'image formats are jpeg, png and webp', [imageExt('gif', [2, 3, 3]), jpeg], P),
    m('image-format-mismatch', 'declared png, the frame holds a JPEG', [imageExt('png', [2, 3, 3]), jpeg], P),
    m(
      'image-shape-mismatch',
      'declared [3, 2, 3] (height 3, width 2), the JPEG header says 3 wide and 2 high',
      [imageExt('jpeg', [3, 2, 3]), jpeg],
      P,
    ),
    m('image-channels-mismatch', 'declared 4 channels, the JPEG has 3', [imageExt('jpeg', [2, 3, 4]), jpeg], P),
    m(
      'image-truncated',
      'a JPEG cut inside its frame header (SOF): the size cannot be read',
      [imageExt('jpeg', [2, 3, 3]), jpeg.slice(0, (sof + 6) * 2)],
      P,
    ),
    m('image-not-an-image', 'the frame is not a JPEG, PNG or WebP image', [imageExt('jpeg', [2, 3, 3]), '00010203'], P),
    m('image-arity', 'the image ext body is [format, shape, ref]', [ext(4, list('jpeg', 1)), jpeg], P),
    m('image-shape-rank', 'an image shape is [height, width, channels]', [imageExt('jpeg', [2, 3]), jpeg], P),
    m(
      'image-bad-webp',
      'a WebP whose first chunk is not VP8, VP8L or VP8X',
      [imageExt('webp', [2, 3, 3]), hex(WEBP_3X2).replace('56503820', '41424344')],
      P,
    ),
    env('envelope-not-map', 'the header of an envelope is a map', (w) => w.arrayHeader(0)),
    env('envelope-no-version', 'the version "v" is required', (w) => {
      w.mapHeader(3);
      w.string('k');
      w.string('rep');
      w.string('id');
      w.int(1);
      w.string('p');
      w.nil();
    }),
    env('envelope-version-2', 'version 2 is not understood by a version 1 peer', (w) => {
      w.mapHeader(4);
      w.string('v');
      w.int(2);
      w.string('k');
      w.string('rep');
      w.string('id');
      w.int(1);
      w.string('p');
      w.nil();
    }),
    env('envelope-unknown-kind', 'kinds are req, rep, err, pub', (w) => {
      w.mapHeader(3);
      w.string('v');
      w.int(1);
      w.string('k');
      w.string('ping');
      w.string('id');
      w.int(1);
    }),
    env('envelope-request-no-id', 'a request needs an id', (w) => {
      w.mapHeader(4);
      w.string('v');
      w.int(1);
      w.string('k');
      w.string('req');
      w.string('m');
      w.string('call');
      w.string('p');
      w.nil();
    }),
    env('envelope-request-no-method', 'a request needs a method "m"', (w) => {
      w.mapHeader(4);
      w.string('v');
      w.int(1);
      w.string('k');
      w.string('req');
      w.string('id');
      w.int(1);
      w.string('p');
      w.nil();
    }),
    env('envelope-request-empty-key', 'an idempotency key "u" has 1..128 characters (protocol 1.1)', (w) => {
      w.mapHeader(6);
      w.string('v');
      w.int(1);
      w.string('k');
      w.string('req');
      w.string('id');
      w.int(1);
      w.string('m');
      w.string('train');
      w.string('u');
      w.string('');
      w.string('p');
      w.nil();
    }),
    env('envelope-error-no-error', 'an error reply needs the error map "e"', (w) => {
      w.mapHeader(3);
      w.string('v');
      w.int(1);
      w.string('k');
      w.string('err');
      w.string('id');
      w.int(1);
    }),
    env('envelope-publish-no-seq', 'a publish needs "s"', (w) => {
      w.mapHeader(5);
      w.string('v');
      w.int(1);
      w.string('k');
      w.string('pub');
      w.string('t');
      w.string('obs');
      w.string('ep');
      w.string('e1');
      w.string('p');
      w.nil();
    }),
  ];
}

/** Writes vectors.json and invalid.json next to this file. */
export function writeVectors(dir: string): void {
  writeFileSync(join(dir, 'vectors.json'), `${JSON.stringify(buildVectors(), null, 1)}\n`);
  writeFileSync(join(dir, 'invalid.json'), `${JSON.stringify(buildInvalid(), null, 1)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeVectors(dirname(fileURLToPath(import.meta.url)));
}
