import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../src/core/errors.js';
import { Image, isImage, readImageHeader } from '../src/tensor/image.js';
import { Tensor } from '../src/tensor/tensor.js';
import { decodeMessage, encodeMessage } from '../src/wire/codec.js';
import { JPEG_3X2, PNG_3X2, WEBP_3X2, WEBP_LOSSLESS_3X2 } from './vectors/images.js';

describe('image headers', () => {
  it.each([
    ['jpeg', JPEG_3X2, 3],
    ['png', PNG_3X2, 3],
    ['webp', WEBP_3X2, 3],
    ['webp', WEBP_LOSSLESS_3X2, 3],
  ] as const)('reads %s', (format, bytes, channels) => {
    expect(readImageHeader(bytes)).toEqual({ format, width: 3, height: 2, channels });
  });

  it('refuses every truncation of the header with ProtocolError, never another error', () => {
    for (const bytes of [JPEG_3X2, PNG_3X2, WEBP_3X2, WEBP_LOSSLESS_3X2]) {
      const h = readImageHeader(bytes);
      let ok = 0;
      for (let n = 0; n < bytes.length; n++) {
        try {
          expect(readImageHeader(bytes.subarray(0, n))).toEqual(h);
          ok++;
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }
      expect(ok).toBeLessThan(bytes.length);
    }
  });

  it('refuses random garbage after a valid magic number with ProtocolError only', () => {
    let seed = 1;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed >>> 24;
    };
    for (const bytes of [JPEG_3X2, PNG_3X2, WEBP_3X2]) {
      for (let k = 0; k < 300; k++) {
        const b = bytes.slice();
        for (let j = 0; j < 4; j++) b[3 + ((rnd() * 7) % (b.length - 3))] = rnd();
        try {
          readImageHeader(b);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }
    }
  });

  it('reads a PNG IHDR claiming 100000 x 100000 without allocating', () => {
    const b = PNG_3X2.slice();
    new DataView(b.buffer).setUint32(16, 100_000);
    new DataView(b.buffer).setUint32(20, 100_000);
    expect(new Image(b).shape).toEqual([100_000, 100_000, 3]);
  });
});

describe('ext 4 on the wire', () => {
  it('round trips an image as a data frame and yields it still encoded, a view on the frame', () => {
    const image = new Image(JPEG_3X2);
    const frames = encodeMessage({ cam: image, t: new Tensor('uint8', Uint8Array.of(1), [1]) });
    expect(frames).toHaveLength(3);
    expect(frames[1]).toBe(JPEG_3X2);
    const out = decodeMessage(frames) as { cam: Image };
    expect(isImage(out.cam)).toBe(true);
    expect(out.cam.bytes.buffer).toBe(frames[1]!.buffer);
    expect([out.cam.format, out.cam.width, out.cam.height, out.cam.channels]).toEqual(['jpeg', 3, 2, 3]);
  });

  it('refuses an Image whose bytes are not an image', () => {
    expect(() => new Image(Uint8Array.of(1, 2, 3))).toThrow(ProtocolError);
    expect(() => new Image(JPEG_3X2, 'png')).toThrow(ProtocolError);
  });
});
