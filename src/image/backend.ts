/**
 * The interface an image backend implements (sharp, or the WASM JPEG codec in a worker thread), and the checks of
 * pixel tensors common to both.
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { Image, ImageFormat } from '../tensor/image.js';
import { isTensor, type Tensor } from '../tensor/tensor.js';

/** The image backends: `sharp` (libvips, native, optional peer dependency) or `wasm` (@jsquash/jpeg, JPEG only). */
export type ImageBackendName = 'sharp' | 'wasm';

/** What to encode to: format, quality and, optionally, a size to resize to first (stretching, no crop). */
export interface EncodeTarget {
  format: ImageFormat;
  quality: number;
  width?: number | undefined;
  height?: number | undefined;
}

/** Pixels in HWC order, 8-bit. */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** An image backend. Implementations do their work off the event loop. */
export interface ImageBackend {
  readonly name: ImageBackendName;
  /** Whether it encodes and decodes `format`. */
  supports(format: ImageFormat): boolean;
  /** Decodes to `image.channels` channels; the limits have been checked. Rejects with `ProtocolError` on bad data. */
  decode(image: Image, maxPixels: number): Promise<Uint8Array>;
  /** Encodes (after resizing when the target has a size). */
  encode(pixels: Pixels, target: EncodeTarget): Promise<Uint8Array>;
}

/**
 * The pixels of a uint8 HxWxC (C 1, 3 or 4) or HxW tensor.
 * @throws {@link InvalidArgumentError} for any other tensor
 */
export function pixelsOf(tensor: Tensor, field = 'pixels'): Pixels {
  if (!isTensor(tensor) || tensor.dtype !== 'uint8') throw new InvalidArgumentError(field, 'must be a uint8 Tensor');
  const [height, width, channels = 1] = tensor.shape;
  const ok = (tensor.shape.length === 3 || tensor.shape.length === 2) && [1, 3, 4].includes(channels);
  if (!ok || !height || !width) {
    throw new InvalidArgumentError(
      field,
      `must be of shape [height, width, 1 | 3 | 4], got [${tensor.shape.join(', ')}]`,
    );
  }
  return { data: tensor.data as Uint8Array, width, height, channels };
}
