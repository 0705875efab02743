/**
 * The tagged JSON form that golden vectors use to describe a decoded value (docs/protocol.md, "Golden vectors").
 * JSON has no bigint, byte string, typed array, tensor, NaN, infinities or negative zero, so those become objects
 * with a single key starting with `$`:
 *
 * - `{"$float": "NaN" | "Infinity" | "-Infinity" | "-0"}`
 * - `{"$bigint": "<decimal>"}` for integers outside ±(2^53 − 1) (integers inside it are plain numbers, whatever
 *   type the sender held them in); a plain JSON number outside that range is a float 64
 * - `{"$bytes": "<hex>"}` for byte strings (inline or in their own frame)
 * - `{"$array": {"dtype": d, "hex": h}}` for typed arrays (little-endian element bytes)
 * - `{"$tensor": {"dtype": d, "shape": [..], "hex": h}}` for tensors (C order, little-endian)
 * - `{"$image": {"format": f, "shape": [h, w, c], "hex": h}}` for encoded images (ext 4): the encoded bytes
 * - `{"$map": {..}}` for a map whose only key itself starts with `$` (so it is not read as a tag)
 *
 * Everything else is plain JSON: null, booleans, finite numbers, strings, arrays, maps as objects.
 */
import { isImage } from '../../src/tensor/image.js';
import { dtypeOfArray, isTensor } from '../../src/tensor/tensor.js';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function hex(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('hex');
}

/** The tagged JSON form of a decoded value. */
export function toTagged(value: unknown): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return { $float: 'NaN' };
    if (value === Number.POSITIVE_INFINITY) return { $float: 'Infinity' };
    if (value === Number.NEGATIVE_INFINITY) return { $float: '-Infinity' };
    if (Object.is(value, -0)) return { $float: '-0' };
    return value;
  }
  if (typeof value === 'bigint') {
    const safe = value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER);
    return safe ? Number(value) : { $bigint: value.toString() };
  }
  if (Array.isArray(value)) return value.map(toTagged);
  if (isImage(value)) return { $image: { format: value.format, shape: [...value.shape], hex: hex(value.bytes) } };
  if (isTensor(value)) return { $tensor: { dtype: value.dtype, shape: [...value.shape], hex: hex(value.data) } };
  if (value instanceof Uint8Array) return { $bytes: hex(value) };
  if (ArrayBuffer.isView(value)) {
    const dtype = dtypeOfArray(value);
    if (dtype === undefined) throw new Error(`no tagged form for ${value.constructor.name}`);
    return { $array: { dtype, hex: hex(value) } };
  }
  if (typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: toTagged(v), enumerable: true, writable: true, configurable: true });
    }
    const keys = Object.keys(out);
    return keys.length === 1 && keys[0]!.startsWith('$') ? { $map: out } : out;
  }
  throw new Error(`no tagged form for a ${typeof value}`);
}
