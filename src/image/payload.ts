/**
 * Images inside payloads: decoding every {@link Image} of a received payload to a tensor (`decodeImages: true`),
 * and encoding the tensors under declared payload keys to what a receiver asked for (an inference interface's
 * `input`, an action server's `encodeObs`). Image input specs are validated here.
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';
import { type ImageDecodeOptions, type ImageFormat, isImage, isImageFormat } from '../tensor/image.js';
import { isTensor, type Tensor } from '../tensor/tensor.js';
import { decodeImage, encodeImage } from './codec.js';

/**
 * How an image is to be sent: encoded as `format` at `quality`, resized first to `width × height` when both are given
 * (stretched to that size, not cropped).
 */
export interface ImageSpec {
  /** @default `'jpeg'` */
  format?: ImageFormat;
  /** 1..100 (JPEG, WebP). @default 80 */
  quality?: number;
  /** Width to resize to (with `height`). */
  width?: number;
  /** Height to resize to (with `width`). */
  height?: number;
}

/** Payload keys mapped to how the image under each key is to be sent. */
export type ImageSpecs = Readonly<Record<string, ImageSpec>>;

/** Checks and copies `specs` (keeping only known fields). @throws {@link InvalidArgumentError} */
export function checkImageSpecs(field: string, specs: unknown): ImageSpecs {
  if (typeof specs !== 'object' || specs === null || Array.isArray(specs)) {
    throw new InvalidArgumentError(field, 'must map payload keys to image specs');
  }
  const out: Record<string, ImageSpec> = {};
  for (const [key, raw] of Object.entries(specs as Record<string, unknown>)) {
    const f = `${field}.${key}`;
    if (typeof raw !== 'object' || raw === null) throw new InvalidArgumentError(f, 'must be an image spec object');
    const s = raw as Record<string, unknown>;
    const spec: ImageSpec = {};
    if (s.format !== undefined) {
      if (!isImageFormat(s.format)) throw new InvalidArgumentError(`${f}.format`, 'must be jpeg, png or webp');
      spec.format = s.format;
    }
    if (s.quality !== undefined) {
      if (!Number.isInteger(s.quality) || (s.quality as number) < 1 || (s.quality as number) > 100) {
        throw new InvalidArgumentError(`${f}.quality`, 'must be an integer in 1..100');
      }
      spec.quality = s.quality as number;
    }
    for (const dim of ['width', 'height'] as const) {
      const v = s[dim];
      if (v === undefined) continue;
      if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > 65535) {
        throw new InvalidArgumentError(`${f}.${dim}`, 'must be an integer in 1..65535');
      }
      spec[dim] = v as number;
    }
    if ((spec.width === undefined) !== (spec.height === undefined)) {
      throw new InvalidArgumentError(f, 'give both width and height, or neither');
    }
    Object.defineProperty(out, key, { value: Object.freeze(spec), enumerable: true });
  }
  return Object.freeze(out);
}

/** Sets an own property (a key such as `__proto__` stays an ordinary key). */
function put(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** True for a uint8 tensor of shape `[height, width, 1 | 3 | 4]`: a camera frame that can be encoded. */
export function isPixelTensor(v: unknown): v is Tensor<'uint8'> {
  if (!isTensor(v) || v.dtype !== 'uint8' || v.shape.length !== 3) return false;
  const c = v.shape[2]!;
  return (c === 1 || c === 3 || c === 4) && v.shape[0]! > 0 && v.shape[1]! > 0;
}

/**
 * A copy of `payload` (a plain object) whose values under the keys of `specs` are encoded as the specs say, when they
 * are uint8 HxWxC tensors. Other values, and keys without a spec, are left as they are; an {@link Image} already there
 * is sent as it is. The keys are encoded concurrently.
 */
export async function encodeImagesAt(payload: unknown, specs: ImageSpecs): Promise<unknown> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || isTensor(payload)) return payload;
  const src = payload as Record<string, unknown>;
  const keys = Object.keys(specs).filter((k) => Object.hasOwn(src, k) && isPixelTensor(src[k]));
  if (keys.length === 0) return payload;
  const out: Record<string, unknown> = { ...src };
  await Promise.all(
    keys.map(async (k) => {
      const s = specs[k]!;
      put(out, k, await encodeImage(src[k] as Tensor, s));
    }),
  );
  return out;
}

/**
 * `value` with every {@link Image} found in it (in plain objects and arrays, at any depth) decoded to a uint8 tensor
 * of shape `[height, width, channels]`, concurrently. Objects and arrays holding no image are returned as they are.
 * @throws {@link LimitError} for an image over the limits, {@link ProtocolError} for one that does not decode
 */
export async function decodeImagesIn(value: unknown, options: ImageDecodeOptions = {}): Promise<unknown> {
  const jobs: Promise<void>[] = [];
  const walk = (v: unknown, depth: number): unknown => {
    if (isImage(v)) return v;
    if (depth > 64 || typeof v !== 'object' || v === null || isTensor(v) || ArrayBuffer.isView(v)) return undefined;
    const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    let copy: Record<string | number, unknown> | unknown[] | undefined;
    for (const [k, item] of entries) {
      const found = walk(item, depth + 1);
      if (found === undefined) continue;
      copy ??= Array.isArray(v) ? [...v] : { ...(v as Record<string, unknown>) };
      const target = copy;
      if (isImage(found)) jobs.push(decodeImage(found, options).then((t) => put(target, k, t)));
      else put(target, k, found);
    }
    return copy;
  };
  const top = walk(value, 0);
  if (top === undefined) return value;
  if (isImage(top)) return decodeImage(top, options);
  await Promise.all(jobs);
  return top;
}

/**
 * The decode options of a `decodeImages` option (`true`, or the limits) next to the receiver's decode limits, or
 * `undefined` when images stay encoded. `maxMessageBytes` defaults to the receiver's own.
 */
export function imageDecodeOptions(
  decodeImages: boolean | ImageDecodeOptions | undefined,
  limits: { maxMessageBytes?: number } | undefined,
): ImageDecodeOptions | undefined {
  if (decodeImages === undefined || decodeImages === false) return undefined;
  const max = limits?.maxMessageBytes;
  return { ...(max !== undefined ? { maxMessageBytes: max } : {}), ...(decodeImages === true ? {} : decodeImages) };
}
