/**
 * The sharp backend (libvips): every format, resize and encode in one pipeline. sharp is an optional peer dependency
 * loaded by dynamic `import()` on first use; each operation runs on a thread of libuv's pool (libvips inside it), so
 * the event loop keeps serving.
 *
 * @module
 */
import { ProtocolError } from '../core/errors.js';
import type { Image } from '../tensor/image.js';
import type { EncodeTarget, ImageBackend, Pixels } from './backend.js';

/** The part of sharp's API used here (typed locally so that sharp's types are not needed to build or use edgeml). */
interface Pipeline {
  resize(width: number, height: number, options: { fit: 'fill' }): Pipeline;
  removeAlpha(): Pipeline;
  ensureAlpha(): Pipeline;
  toColourspace(space: string): Pipeline;
  jpeg(options: { quality: number }): Pipeline;
  png(options: { compressionLevel: number }): Pipeline;
  webp(options: { quality: number }): Pipeline;
  raw(options: { depth: 'uchar' }): Pipeline;
  toBuffer(options: { resolveWithObject: true }): Promise<{ data: Buffer; info: { channels: number } }>;
  toBuffer(): Promise<Buffer>;
}
type SharpInput = {
  raw?: { width: number; height: number; channels: 1 | 2 | 3 | 4 };
  limitInputPixels?: number;
  failOn?: 'none' | 'truncated' | 'error' | 'warning';
};
type Sharp = (input: Uint8Array, options?: SharpInput) => Pipeline;

/** Loads sharp; resolves to `undefined` when it is not installed (or cannot load its native library). */
export async function loadSharp(): Promise<ImageBackend | undefined> {
  let sharp: Sharp;
  try {
    const name = 'sharp';
    const mod = (await import(name)) as { default: Sharp };
    sharp = mod.default;
  } catch {
    return undefined;
  }
  return new SharpBackend(sharp);
}

class SharpBackend implements ImageBackend {
  readonly name = 'sharp';

  constructor(private readonly sharp: Sharp) {}

  supports(): boolean {
    return true;
  }

  async decode(image: Image, maxPixels: number): Promise<Uint8Array> {
    let p = this.sharp(image.bytes, { limitInputPixels: Math.max(1, Math.floor(maxPixels)), failOn: 'truncated' });
    const c = image.channels;
    // libvips converts colour before it adds alpha: gray + alpha is decoded as RGBA and packed below.
    if (c === 1) p = p.toColourspace('b-w');
    p = c === 1 || c === 3 ? p.removeAlpha() : p.ensureAlpha();
    let out: { data: Buffer; info: { channels: number } };
    try {
      out = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw new ProtocolError(`cannot decode ${image.format} image: ${(e as Error).message}`, { cause: e });
    }
    if (c === 2 && out.info.channels === 4) out = { data: grayAlpha(out.data), info: { channels: 2 } };
    if (out.info.channels !== c || out.data.byteLength !== image.width * image.height * c) {
      throw new ProtocolError(`${image.format} image decoded to another shape than its header declares`);
    }
    return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
  }

  async encode(px: Pixels, t: EncodeTarget): Promise<Uint8Array> {
    const channels = px.channels as 1 | 3 | 4;
    let p = this.sharp(px.data, { raw: { width: px.width, height: px.height, channels } });
    if (channels === 1) p = p.toColourspace('b-w');
    if (t.width !== undefined && t.height !== undefined && (t.width !== px.width || t.height !== px.height)) {
      p = p.resize(t.width, t.height, { fit: 'fill' });
    }
    if (t.format === 'jpeg') p = p.jpeg({ quality: t.quality });
    else if (t.format === 'webp') p = p.webp({ quality: t.quality });
    else p = p.png({ compressionLevel: 3 });
    const b = await p.toBuffer();
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
}

/** Gray + alpha from RGBA decoded from a gray + alpha image (R = G = B). */
function grayAlpha(rgba: Buffer): Buffer {
  const n = rgba.byteLength / 4;
  const out = Buffer.allocUnsafe(n * 2);
  for (let i = 0; i < n; i++) {
    out[2 * i] = rgba[4 * i]!;
    out[2 * i + 1] = rgba[4 * i + 3]!;
  }
  return out;
}
