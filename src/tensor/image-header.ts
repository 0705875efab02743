/**
 * Reads the size and channel count of an encoded image from its header (JPEG SOF, PNG IHDR, WebP VP8/VP8L/VP8X)
 * without decoding anything: pure functions over bytes, used by the wire decoder to check an image's declared shape
 * and by the image codecs to refuse decompression bombs before allocating pixel memory.
 *
 * @module
 */
import { ProtocolError } from '../core/errors.js';

/** Encoded image formats edgeml carries. */
export type ImageFormat = 'jpeg' | 'png' | 'webp';

/** Every image format, in a fixed order. */
export const IMAGE_FORMATS: readonly ImageFormat[] = ['jpeg', 'png', 'webp'];

/** True for `'jpeg'`, `'png'` or `'webp'`. */
export function isImageFormat(v: unknown): v is ImageFormat {
  return v === 'jpeg' || v === 'png' || v === 'webp';
}

/** What an image's header says: format, size and the channels it decodes to (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). */
export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
  channels: number;
}

const fail = (format: string, why: string): never => {
  throw new ProtocolError(`invalid ${format} image: ${why}`);
};

const u16be = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;
const u32be = (b: Uint8Array, i: number): number =>
  ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
const u16le = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8);
const u24le = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16);

/** SOF markers (baseline, extended, progressive, lossless; Huffman and arithmetic); not DHT (C4), JPG (C8), DAC (CC). */
function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpeg(b: Uint8Array): ImageHeader {
  let i = 2;
  for (;;) {
    if (i >= b.length) fail('jpeg', 'truncated before the frame header (SOF)');
    if (b[i] !== 0xff) fail('jpeg', `expected a marker at byte ${i}`);
    while (i < b.length && b[i] === 0xff) i++; // fill bytes
    if (i >= b.length) fail('jpeg', 'truncated inside a marker');
    const marker = b[i++]!;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (marker === 0xd9 || marker === 0xda) fail('jpeg', 'no frame header (SOF) before the scan data');
    if (i + 2 > b.length) fail('jpeg', 'truncated segment length');
    const len = u16be(b, i);
    if (len < 2) fail('jpeg', `segment length ${len}`);
    if (isSof(marker)) {
      if (len < 8 || i + 8 > b.length) fail('jpeg', 'truncated frame header (SOF)');
      const height = u16be(b, i + 3);
      const width = u16be(b, i + 5);
      const channels = b[i + 7]!;
      if (width === 0 || height === 0)
        fail('jpeg', `size ${width}x${height} (a height set later by DNL is unsupported)`);
      if (channels !== 1 && channels !== 3) fail('jpeg', `${channels} components (only gray and YCbCr/RGB)`);
      if (len < 8 + 3 * channels || i + len > b.length) fail('jpeg', 'truncated frame header (SOF)');
      return { format: 'jpeg', width, height, channels };
    }
    i += len;
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Channels by PNG colour type: gray, -, RGB, palette (decoded to RGB), gray+alpha, -, RGBA. */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

function png(b: Uint8Array): ImageHeader {
  if (b.length < 33) fail('png', 'truncated before the end of IHDR');
  for (let i = 0; i < 8; i++) if (b[i] !== PNG_SIGNATURE[i]) fail('png', 'bad signature');
  if (u32be(b, 8) !== 13 || b[12] !== 0x49 || b[13] !== 0x48 || b[14] !== 0x44 || b[15] !== 0x52) {
    fail('png', 'the first chunk is not a 13-byte IHDR');
  }
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  const depth = b[24]!;
  const channels = PNG_CHANNELS[b[25]!];
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) fail('png', `size ${width}x${height}`);
  if (channels === undefined) fail('png', `colour type ${b[25]}`);
  if (![1, 2, 4, 8, 16].includes(depth)) fail('png', `bit depth ${depth}`);
  return { format: 'png', width, height, channels: channels! };
}

function webp(b: Uint8Array): ImageHeader {
  if (b.length < 30) fail('webp', 'truncated before the end of the first chunk header');
  const tag = String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!);
  const p = 20; // chunk payload
  let width: number;
  let height: number;
  let channels = 3;
  if (tag === 'VP8 ') {
    if (b[p + 3] !== 0x9d || b[p + 4] !== 0x01 || b[p + 5] !== 0x2a) fail('webp', 'bad VP8 start code');
    if ((b[p]! & 1) !== 0) fail('webp', 'the first VP8 frame is not a key frame');
    width = u16le(b, p + 6) & 0x3fff;
    height = u16le(b, p + 8) & 0x3fff;
  } else if (tag === 'VP8L') {
    if (b[p] !== 0x2f) fail('webp', 'bad VP8L signature');
    const bits = (b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16) | (b[p + 4]! << 24)) >>> 0;
    width = (bits & 0x3fff) + 1;
    height = ((bits >>> 14) & 0x3fff) + 1;
    if ((bits >>> 28) & 1) channels = 4;
    if (bits >>> 29 !== 0) fail('webp', 'unknown VP8L version');
  } else if (tag === 'VP8X') {
    if (b[p]! & 0x10) channels = 4;
    width = u24le(b, p + 4) + 1;
    height = u24le(b, p + 7) + 1;
  } else {
    return fail('webp', `unknown first chunk ${JSON.stringify(tag)}`);
  }
  if (width === 0 || height === 0) fail('webp', `size ${width}x${height}`);
  return { format: 'webp', width, height, channels };
}

/** The format `bytes` start with (by magic number), or `undefined`. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && PNG_SIGNATURE.every((x, i) => b[i] === x)) return 'png';
  if (
    b.length >= 12 &&
    String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!) === 'RIFF' &&
    String.fromCharCode(b[8]!, b[9]!, b[10]!, b[11]!) === 'WEBP'
  ) {
    return 'webp';
  }
  return undefined;
}

/**
 * The header of an encoded image: its format (from the magic number, or checked against `format` when given), size
 * and channels. Reads at most the bytes up to the frame header; allocates nothing in proportion to the image.
 *
 * @throws {@link ProtocolError} when the bytes are not a JPEG, PNG or WebP image, or are truncated or corrupt before
 * the size is known. (Corruption after the header is found only by decoding.)
 */
export function readImageHeader(bytes: Uint8Array, format?: ImageFormat): ImageHeader {
  const sniffed = sniffImageFormat(bytes);
  if (sniffed === undefined) {
    throw new ProtocolError(`not a ${format ?? 'JPEG, PNG or WebP'} image (unknown magic number)`);
  }
  if (format !== undefined && sniffed !== format) throw new ProtocolError(`declared ${format}, the data is ${sniffed}`);
  return sniffed === 'jpeg' ? jpeg(bytes) : sniffed === 'png' ? png(bytes) : webp(bytes);
}
