/**
 * Decompression bombs: an image's header is checked against the decode limits before any pixel memory exists. A
 * 200-byte PNG can claim 100 000 × 100 000 pixels; this refuses it with `LimitError` from the header alone.
 *
 * @module
 */
import { DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_MESSAGE_BYTES } from '../core/defaults.js';
import { InvalidArgumentError, LimitError } from '../core/errors.js';
import type { Image, ImageDecodeOptions } from '../tensor/image.js';

/** The limits in effect: `maxImagePixels` (width × height) and the most decoded bytes. */
export interface ResolvedImageLimits {
  maxImagePixels: number;
  maxBytes: number;
}

/** Resolves the defaults. @throws {@link InvalidArgumentError} for a limit that is not a positive number */
export function resolveImageLimits(options: ImageDecodeOptions = {}): ResolvedImageLimits {
  const pick = (field: string, v: number | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v > 0)) throw new InvalidArgumentError(field, 'must be a positive number');
    return v;
  };
  return {
    maxImagePixels: pick('maxImagePixels', options.maxImagePixels, DEFAULT_MAX_IMAGE_PIXELS),
    maxBytes: pick('maxMessageBytes', options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
  };
}

/** @throws {@link LimitError} when `image` would decode to more pixels or bytes than the limits allow */
export function checkImageLimits(image: Image, limits: ResolvedImageLimits): void {
  const pixels = image.width * image.height;
  if (pixels > limits.maxImagePixels) {
    throw new LimitError(
      `${image.format} image of ${image.width}x${image.height} (${pixels} pixels) exceeds maxImagePixels ${limits.maxImagePixels}`,
    );
  }
  const bytes = pixels * image.channels;
  if (bytes > limits.maxBytes) {
    throw new LimitError(`${image.format} image decodes to ${bytes} bytes, over the limit of ${limits.maxBytes}`);
  }
}
