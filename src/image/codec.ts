/**
 * Image encoding and decoding for edgeml payloads: {@link encodeImage} (uint8 HxWxC tensor → {@link Image}, resized
 * on the way when asked), {@link decodeImage} ({@link Image} → uint8 tensor, after the header is checked against the
 * decode limits). Two backends: sharp (libvips; every format; an optional peer dependency) and the WASM JPEG codec
 * (@jsquash/jpeg in a worker thread). sharp is used when it is installed, being the faster of the two on every
 * operation measured (docs/performance.md, "Image codecs"); the WASM codec is the fallback for JPEG. Loading this
 * module makes `image.decode()` work.
 *
 * @module
 */
import { DEFAULT_IMAGE_QUALITY } from '../core/defaults.js';
import { EdgeMLError, InvalidArgumentError } from '../core/errors.js';
import {
  Image,
  type ImageDecodeOptions,
  type ImageFormat,
  installImageDecoder,
  isImageFormat,
} from '../tensor/image.js';
import { Tensor } from '../tensor/tensor.js';
import { type ImageBackend, type ImageBackendName, pixelsOf } from './backend.js';
import { checkImageLimits, resolveImageLimits } from './limits.js';
import { loadSharp } from './sharp-backend.js';
import { loadWasm } from './wasm-backend.js';

export type { ImageBackendName } from './backend.js';

/** Backends in order of preference (by measurement, docs/performance.md). */
const PREFERENCE: readonly ImageBackendName[] = ['sharp', 'wasm'];
const LOADERS: Record<ImageBackendName, () => Promise<ImageBackend | undefined>> = { sharp: loadSharp, wasm: loadWasm };
const loaded = new Map<ImageBackendName, Promise<ImageBackend | undefined>>();

function load(name: ImageBackendName): Promise<ImageBackend | undefined> {
  let p = loaded.get(name);
  if (!p) {
    p = LOADERS[name]();
    loaded.set(name, p);
  }
  return p;
}

/** Which backend to use: a name, or (absent) the first installed one that supports the format. */
export interface BackendChoice {
  /** `'sharp'` or `'wasm'`; absent: sharp when installed, else the WASM codec (JPEG only). */
  backend?: ImageBackendName;
}

/**
 * The backend that handles `format`.
 * @throws {@link EdgeMLError} when none is installed (install `sharp`, or `@jsquash/jpeg` for JPEG)
 */
export async function imageBackend(format: ImageFormat, choice: BackendChoice = {}): Promise<ImageBackend> {
  const names = choice.backend !== undefined ? [choice.backend] : PREFERENCE;
  for (const name of names) {
    if (!(name in LOADERS)) throw new InvalidArgumentError('backend', `unknown image backend ${JSON.stringify(name)}`);
    const b = await load(name);
    if (b?.supports(format)) return b;
  }
  throw new EdgeMLError(
    `no image backend for ${format}${choice.backend ? ` in ${choice.backend}` : ''}: install sharp${format === 'jpeg' ? ' or @jsquash/jpeg' : ''}`,
  );
}

/** Options of {@link decodeImage}: the decode limits and the backend. */
export interface DecodeImageOptions extends ImageDecodeOptions, BackendChoice {}

/**
 * Decodes an image to a uint8 tensor of shape `[height, width, channels]`, off the event loop. The header is checked
 * against `maxImagePixels` (default 50 MP) and `maxMessageBytes` (default 1 GiB) first: a decompression bomb is
 * refused before any pixel memory is allocated.
 * @throws {@link LimitError} over a limit, {@link ProtocolError} for corrupt or truncated data
 */
export async function decodeImage(image: Image, options: DecodeImageOptions = {}): Promise<Tensor<'uint8'>> {
  const limits = resolveImageLimits(options);
  checkImageLimits(image, limits);
  const backend = await imageBackend(image.format, options);
  const data = await backend.decode(image, limits.maxImagePixels);
  return new Tensor('uint8', data, image.shape);
}

/** Options of {@link encodeImage}. */
export interface EncodeImageOptions extends BackendChoice {
  /** @default `'jpeg'` */
  format?: ImageFormat;
  /** 1..100, for JPEG and WebP. @default {@link DEFAULT_IMAGE_QUALITY} (80) */
  quality?: number;
  /** Resize to this width first (with `height`; the image is stretched, not cropped). */
  width?: number;
  /** Resize to this height first (with `width`). */
  height?: number;
}

function positiveInt(field: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < 1 || v > 65535)
    throw new InvalidArgumentError(field, 'must be an integer in 1..65535');
  return v;
}

/**
 * Encodes a uint8 tensor of shape `[height, width, channels]` (channels 1, 3 or 4; `[height, width]` for gray) into an
 * {@link Image}, resizing it first when `width` and `height` are given. Runs off the event loop.
 * @throws {@link InvalidArgumentError} for another tensor or a bad option
 */
export async function encodeImage(pixels: Tensor, options: EncodeImageOptions = {}): Promise<Image> {
  const px = pixelsOf(pixels);
  const format = options.format ?? 'jpeg';
  if (!isImageFormat(format)) throw new InvalidArgumentError('format', 'must be jpeg, png or webp');
  const quality = options.quality ?? DEFAULT_IMAGE_QUALITY;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new InvalidArgumentError('quality', 'must be an integer in 1..100');
  }
  const width = positiveInt('width', options.width);
  const height = positiveInt('height', options.height);
  if ((width === undefined) !== (height === undefined)) {
    throw new InvalidArgumentError('width', 'give both width and height, or neither');
  }
  const backend = await imageBackend(format, options);
  const bytes = await backend.encode(px, { format, quality, width, height });
  return new Image(bytes, format);
}

installImageDecoder((image, options) => decodeImage(image, options));
