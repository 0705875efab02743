import { describe, expect, it } from 'vitest';
import { cameraFrame } from '../bench/frames.js';
import { LimitError, ProtocolError } from '../src/core/errors.js';
import { decodeImage, encodeImage, imageBackend } from '../src/image/codec.js';
import { Image } from '../src/tensor/image.js';
import { Tensor } from '../src/tensor/tensor.js';
import { JPEG_3X2, PNG_3X2 } from './vectors/images.js';

function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return 10 * Math.log10((255 * 255) / (se / a.length));
}

const frame = cameraFrame(3, 120, 160);
const hasWasm = await imageBackend('jpeg', { backend: 'wasm' }).then(
  () => true,
  () => false,
);

describe('image codecs', () => {
  it.each([
    ['jpeg', 'sharp', 30],
    ['webp', 'sharp', 30],
    ['jpeg', 'wasm', 30],
  ] as const)('round trips %s with %s within the PSNR bound (> %d dB)', async (format, backend, bound) => {
    if (backend === 'wasm' && !hasWasm) return;
    const image = await encodeImage(frame, { format, quality: 80, backend });
    expect([image.format, image.width, image.height, image.channels]).toEqual([format, 160, 120, 3]);
    expect(image.bytes.byteLength).toBeLessThan(frame.byteLength / 4);
    const back = await decodeImage(image, { backend });
    expect(back.shape).toEqual([120, 160, 3]);
    expect(psnr(back.data, frame.data)).toBeGreaterThan(bound);
  });

  it('round trips PNG exactly, gray and RGBA included', async () => {
    for (const c of [1, 3, 4]) {
      const t = new Tensor('uint8', cameraFrame(5, 120, 640).data.slice(0, 120 * 160 * c), [120, 160, c]);
      const image = await encodeImage(t, { format: 'png' });
      expect(image.channels).toBe(c);
      expect((await image.decode()).data).toEqual(t.data);
    }
  });

  it('decodes what other encoders write: palette, 16-bit and gray + alpha PNG, WebP with alpha, gray and progressive JPEG', async () => {
    const sharp = (await import('sharp')).default;
    const raw = { raw: { width: 160, height: 120, channels: 3 as const } };
    const rgb = () => sharp(frame.data, raw);
    const cases: [Promise<Buffer>, number][] = [
      [rgb().png({ palette: true }).toBuffer(), 3],
      [rgb().toColourspace('rgb16').png().toBuffer(), 3],
      [rgb().toColourspace('b-w').ensureAlpha(0.5).png().toBuffer(), 2],
      [rgb().ensureAlpha(0.5).webp().toBuffer(), 4],
      [rgb().toColourspace('b-w').jpeg().toBuffer(), 1],
      [rgb().jpeg({ progressive: true }).toBuffer(), 3],
    ];
    for (const [bytes, channels] of cases) {
      const image = new Image(await bytes);
      expect(image.channels).toBe(channels);
      const t = await image.decode();
      expect(t.shape).toEqual([120, 160, channels]);
      if (channels === 2) expect(Math.abs(t.data[1]! - 128)).toBeLessThanOrEqual(1); // the alpha of ensureAlpha(0.5)
    }
  });

  it('resizes before encoding', async () => {
    const image = await encodeImage(frame, { width: 64, height: 32 });
    expect(image.shape).toEqual([32, 64, 3]);
    if (hasWasm)
      expect((await encodeImage(frame, { width: 64, height: 32, backend: 'wasm' })).shape).toEqual([32, 64, 3]);
  });

  it('refuses truncated data with ProtocolError, for every format and backend', async () => {
    for (const format of ['jpeg', 'png', 'webp'] as const) {
      const image = await encodeImage(frame, { format });
      for (const keep of [0.3, 0.6, 0.95]) {
        const cut = new Image(image.bytes.subarray(0, Math.floor(image.bytes.byteLength * keep)));
        await expect(decodeImage(cut)).rejects.toBeInstanceOf(ProtocolError);
        if (format === 'jpeg' && hasWasm) {
          await expect(decodeImage(cut, { backend: 'wasm' })).rejects.toBeInstanceOf(ProtocolError);
        }
      }
    }
  });

  it('survives corrupt data: every result is a tensor of the declared shape or a ProtocolError', async () => {
    const image = await encodeImage(frame, { format: 'jpeg' });
    let seed = 7;
    let refused = 0;
    for (let k = 0; k < 20; k++) {
      const b = image.bytes.slice();
      for (let j = 0; j < 20; j++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        b[600 + (seed % (b.length - 600))] = seed >>> 24;
      }
      try {
        expect((await decodeImage(new Image(b))).shape).toEqual([120, 160, 3]);
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThanOrEqual(0);
    // The decoder still works afterwards (a WASM instance that failed is replaced).
    if (hasWasm) expect((await decodeImage(image, { backend: 'wasm' })).shape).toEqual([120, 160, 3]);
  });

  it('refuses a header claiming 100000 x 100000 before allocating (RSS stays low)', async () => {
    const b = PNG_3X2.slice();
    new DataView(b.buffer).setUint32(16, 100_000);
    new DataView(b.buffer).setUint32(20, 100_000);
    const jpeg = JPEG_3X2.slice();
    const sof = Buffer.from(jpeg).indexOf(Buffer.from([0xff, 0xc0]));
    new DataView(jpeg.buffer).setUint16(sof + 5, 65_000);
    new DataView(jpeg.buffer).setUint16(sof + 7, 65_000);
    const before = process.memoryUsage().rss;
    for (const bomb of [new Image(b), new Image(jpeg)]) {
      await expect(bomb.decode()).rejects.toBeInstanceOf(LimitError);
      await expect(decodeImage(bomb, { maxImagePixels: 1e12 })).rejects.toBeInstanceOf(LimitError); // bytes limit
    }
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('applies maxImagePixels and maxMessageBytes', async () => {
    const image = await encodeImage(frame);
    await expect(decodeImage(image, { maxImagePixels: 160 * 120 - 1 })).rejects.toBeInstanceOf(LimitError);
    await expect(decodeImage(image, { maxMessageBytes: 160 * 120 * 3 - 1 })).rejects.toBeInstanceOf(LimitError);
    expect((await decodeImage(image, { maxImagePixels: 160 * 120, maxMessageBytes: 160 * 120 * 3 })).size).toBe(57600);
  });

  it('decodes off the event loop: timers keep running during a burst of decodes', async () => {
    const big = await encodeImage(cameraFrame(1));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await Promise.all(Array.from({ length: 16 }, () => decodeImage(big)));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(2);
  });

  it('refuses tensors that are not uint8 HxWxC', async () => {
    await expect(encodeImage(new Tensor('float32', new Float32Array(12), [2, 2, 3]))).rejects.toThrow(/uint8/);
    await expect(encodeImage(new Tensor('uint8', new Uint8Array(10), [2, 1, 5]))).rejects.toThrow(/shape/);
    await expect(encodeImage(frame, { quality: 0 })).rejects.toThrow(/quality/);
  });
});
