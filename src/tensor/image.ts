/**
 * `Image`: an encoded image (JPEG, PNG or WebP) as a payload value. It travels as msgpack ext type 4 with its bytes
 * in a data frame (docs/protocol.md, "Images"), and stays encoded until the receiver asks for pixels: so a receiver
 * can store or forward camera frames without decoding them. Decoding (`await image.decode()`) is done by the image
 * codecs of `src/image/`, off the event loop, after the header has been checked against the decode limits.
 *
 * @module
 */
import { EdgeMLError, ProtocolError } from '../core/errors.js';
import { type ImageFormat, readImageHeader } from './image-header.js';
import type { Tensor } from './tensor.js';

export { IMAGE_FORMATS, type ImageFormat, type ImageHeader, isImageFormat, readImageHeader } from './image-header.js';

const IMAGE_BRAND = Symbol.for('edgeml.image');

/** Options of {@link Image.decode}. */
export interface ImageDecodeOptions {
  /**
   * Most pixels (width × height) to decode; a larger header is refused with `LimitError` before anything is
   * allocated. @default {@link DEFAULT_MAX_IMAGE_PIXELS} (50 MP)
   */
  maxImagePixels?: number;
  /** Most decoded bytes (width × height × channels). @default {@link DEFAULT_MAX_MESSAGE_BYTES} (1 GiB) */
  maxMessageBytes?: number;
}

/** The function that decodes images: installed by the image codecs (`src/image/`). */
export type ImageDecoder = (image: Image, options: ImageDecodeOptions) => Promise<Tensor<'uint8'>>;

let decoder: ImageDecoder | undefined;

/** Installs the decoder behind {@link Image.decode}. Internal: called by the image codec module when it loads. */
export function installImageDecoder(fn: ImageDecoder): void {
  decoder = fn;
}

/**
 * An encoded image. Built from encoded bytes, whose header gives the format, size and channels; the bytes are kept
 * as they are (not copied).
 *
 * @example
 * ```ts
 * const image = new Image(jpegBytes);          // throws ProtocolError unless it is a JPEG, PNG or WebP
 * console.log(image.format, image.width, image.height, image.channels);
 * const pixels = await image.decode();         // uint8 Tensor of shape [height, width, channels]
 * ```
 */
export class Image {
  /** `'jpeg'`, `'png'` or `'webp'`. */
  readonly format: ImageFormat;
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** Channels the image decodes to: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA. */
  readonly channels: number;
  /** The encoded bytes. */
  readonly bytes: Uint8Array;

  /**
   * @param bytes an encoded JPEG, PNG or WebP image
   * @param format when given, the bytes must be of this format
   * @throws {@link ProtocolError} when the bytes are not such an image, or are truncated or corrupt in the header
   */
  constructor(bytes: Uint8Array, format?: ImageFormat) {
    if (!(bytes instanceof Uint8Array)) throw new ProtocolError('an image is built from a Uint8Array');
    const h = readImageHeader(bytes, format);
    this.format = h.format;
    this.width = h.width;
    this.height = h.height;
    this.channels = h.channels;
    this.bytes = bytes;
  }

  /** `[height, width, channels]`: the shape of the decoded tensor. */
  get shape(): [number, number, number] {
    return [this.height, this.width, this.channels];
  }

  /**
   * Decodes to a uint8 tensor of shape `[height, width, channels]` (HWC), off the event loop. The header is checked
   * against `maxImagePixels` and `maxMessageBytes` before any pixel memory is allocated.
   * @throws {@link LimitError} for an image over the limits, {@link ProtocolError} for corrupt or truncated data,
   * {@link EdgeMLError} when no image codec is loaded.
   */
  decode(options: ImageDecodeOptions = {}): Promise<Tensor<'uint8'>> {
    if (!decoder) {
      return Promise.reject(
        new EdgeMLError("no image codec loaded: import { decodeImage } from 'edgeml' (needs sharp or @jsquash/jpeg)"),
      );
    }
    return decoder(this, options);
  }
}

Object.defineProperty(Image.prototype, IMAGE_BRAND, { value: true });

/** True for an {@link Image}, also one created by another copy of the library (the check uses a global brand). */
export function isImage(value: unknown): value is Image {
  return value instanceof Image || (typeof value === 'object' && value !== null && IMAGE_BRAND in value);
}
