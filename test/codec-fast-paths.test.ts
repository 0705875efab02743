/**
 * The codec's fast paths (issue 6) must not change a byte: the reused header writer, ext bodies written in place,
 * the ASCII loops for short strings, and ext bodies read in place.
 */
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../src/core/errors.js';
import { Tensor } from '../src/tensor/tensor.js';
import { decodeMessage, EXT_TENSOR, encodeMessage, type Frame } from '../src/wire/codec.js';
import { readMsgpack } from '../src/wire/msgpack-reader.js';
import { MsgpackWriter } from '../src/wire/msgpack-writer.js';

const LIMITS = { maxDepth: 8, maxStringBytes: 1 << 20, maxCollectionLength: 1 << 20 };

/** msgpack of `s` written the plain way: the UTF-8 bytes behind the shortest str header. */
function plainString(s: string): Buffer {
  const utf8 = Buffer.from(s, 'utf8');
  const n = utf8.length;
  const hdr = n < 32 ? Buffer.of(0xa0 | n) : n < 256 ? Buffer.of(0xd9, n) : Buffer.of(0xda, n >> 8, n & 0xff);
  return Buffer.concat([hdr, utf8]);
}

describe('codec fast paths', () => {
  it('gives each message its own header bytes although the writer is reused', () => {
    const first = encodeMessage({ a: 'first', t: new Tensor('float32', new Float32Array(3), [3]) });
    const before = Buffer.from(first[0]!);
    const second = encodeMessage({ a: 'second message, longer', b: [1, 2, 3] });
    expect(Buffer.from(first[0]!)).toEqual(before);
    expect(first[0]!.buffer === second[0]!.buffer && first[0]!.byteOffset === second[0]!.byteOffset).toBe(false);
    expect(decodeMessage(first)).toEqual({ a: 'first', t: new Tensor('float32', new Float32Array(3), [3]) });
    expect(decodeMessage(second)).toEqual({ a: 'second message, longer', b: [1, 2, 3] });
  });

  it('encodes correctly when a getter encodes another message in the middle', () => {
    const inner = { x: 'inner', n: 42 };
    let innerFrames: Frame[] = [];
    const outer = {
      a: 'outer',
      get b(): string {
        innerFrames = encodeMessage(inner);
        return 'after';
      },
      c: 7,
    };
    const frames = encodeMessage(outer);
    expect(decodeMessage(frames)).toEqual({ a: 'outer', b: 'after', c: 7 });
    expect(decodeMessage(innerFrames)).toEqual(inner);
    expect(Buffer.from(frames[0]!)).toEqual(Buffer.from(encodeMessage({ a: 'outer', b: 'after', c: 7 })[0]!));
  });

  it('still encodes small headers after one that grew the writer past its kept size', () => {
    const big = 'x'.repeat(200_000);
    expect(decodeMessage(encodeMessage({ big }))).toEqual({ big });
    expect(decodeMessage(encodeMessage({ small: 1 }))).toEqual({ small: 1 });
  });

  it('writes short strings, ASCII or not, as their UTF-8 bytes', () => {
    const samples = ['', 'a', 'id', 'float32', 'é', 'aé', 'x'.repeat(31), `${'x'.repeat(30)}é`, 'é'.repeat(10)];
    samples.push('é'.repeat(11), '日本語', '\ud800', 'a\udc00b', 'x'.repeat(32), '🎉'.repeat(7), '🎉'.repeat(8));
    for (const s of samples) {
      const w = new MsgpackWriter(4);
      w.string(s);
      expect(Buffer.from(w.finish()), JSON.stringify(s)).toEqual(plainString(s));
      expect(
        readMsgpack(w.finish(), LIMITS, () => null),
        JSON.stringify(s),
      ).toBe(Buffer.from(s, 'utf8').toString());
    }
  });

  it('refuses invalid UTF-8 in short strings as in long ones', () => {
    for (const bytes of [
      [0xa2, 0x61, 0xff],
      [0xa1, 0xc3],
      [0xa3, 0xe6, 0x97, 0x61],
    ]) {
      expect(() => readMsgpack(Uint8Array.from(bytes), LIMITS, () => null)).toThrow(ProtocolError);
    }
  });

  it('writes ext bodies in place with the same header forms as a separate body', () => {
    for (const n of [0, 1, 2, 3, 4, 8, 15, 16, 17, 255, 256, 65535, 65536]) {
      // A body of n one-byte ints, written by the writer itself, in place, or first to a buffer of its own.
      const ints = Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0x7f);
      const separate = new MsgpackWriter(8);
      const inPlace = new MsgpackWriter(8);
      for (const w of [separate, inPlace]) w.string('before');
      separate.ext(5, ints);
      const mark = inPlace.extStart();
      for (const b of ints) inPlace.int(b);
      inPlace.extEnd(5, mark);
      for (const w of [separate, inPlace]) w.nil();
      expect(Buffer.from(inPlace.finish()), `body of ${n} bytes`).toEqual(Buffer.from(separate.finish()));
    }
  });

  it('round-trips a tensor whose ext body needs the 16-bit length form', () => {
    const shape = [...Array.from({ length: 300 }, () => 1), 70_000];
    const t = new Tensor('uint8', new Uint8Array(70_000).fill(9), shape);
    const frames = encodeMessage({ t });
    const header = frames[0]!;
    expect([...header.subarray(0, 3)]).toEqual([0x81, 0xa1, 0x74]); // {"t": ...
    expect(header[3]).toBe(0xc8); // ext 16: length (2 bytes), type
    expect(header[6]).toBe(EXT_TENSOR);
    const back = decodeMessage(frames) as { t: Tensor };
    expect(back.t.shape).toEqual(shape);
    expect(back.t.data).toEqual(t.data);
  });

  it('decodes uint8 tensors and typed arrays as views on the received frame', () => {
    const received = new Uint8Array(64 + 12);
    const frame = received.subarray(64);
    frame.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const [header] = encodeMessage({ img: new Tensor('uint8', frame, [3, 4]), f: new Float32Array(3) });
    const floats = new Uint8Array(12);
    const back = decodeMessage([header!, frame, floats]) as { img: Tensor<'uint8'>; f: Float32Array };
    expect(back.img.data.buffer).toBe(received.buffer);
    expect(back.img.data.byteOffset).toBe(64);
    expect(Buffer.isBuffer(back.img.data)).toBe(false);
    expect(back.f.buffer).toBe(floats.buffer);
  });

  it('refuses an ext value inside an ext body, and trailing bytes in one', () => {
    const nested = new MsgpackWriter();
    const outer = nested.extStart();
    nested.ext(1, Uint8Array.of(1));
    nested.extEnd(EXT_TENSOR, outer);
    expect(() => decodeMessage([nested.finish(), new Uint8Array(1)])).toThrow(/must not hold an ext value/);
    const trailing = new MsgpackWriter();
    trailing.ext(1, Uint8Array.of(1, 0xc0));
    expect(() => decodeMessage([trailing.finish(), new Uint8Array(1)])).toThrow(/trailing bytes in ext body/);
  });
});
