/**
 * {@link payloadBytes}: what a decoded payload holds in memory, for byte bounds such as a trainer table's `maxBytes`.
 *
 * @module
 */
import { isTensor } from '../tensor/tensor.js';

/** Bytes counted per stored item besides its values (the slot, the item's bookkeeping). */
export const ITEM_OVERHEAD_BYTES = 64;
/** Bytes counted per value in the tree (number, string, array, object, map key, ...), besides its data. */
export const VALUE_OVERHEAD_BYTES = 16;

/**
 * An estimate, from above for the data, of the memory a decoded payload holds: the bytes of every tensor, typed array
 * and byte string, two bytes per character of every string and map key, {@link VALUE_OVERHEAD_BYTES} per value and
 * {@link ITEM_OVERHEAD_BYTES} once. Pure; walks the tree once, iteratively (deep trees cannot overflow the stack); an
 * object or array reached twice (shared, or a cycle) is counted once.
 */
export function payloadBytes(value: unknown): number {
  let total = ITEM_OVERHEAD_BYTES;
  const stack: unknown[] = [value];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const v = stack.pop();
    total += VALUE_OVERHEAD_BYTES;
    if (typeof v === 'string') {
      total += 2 * v.length;
      continue;
    }
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (isTensor(v)) {
      total += v.data.byteLength;
      continue;
    }
    if (ArrayBuffer.isView(v)) {
      total += v.byteLength;
      continue;
    }
    if (v instanceof ArrayBuffer) {
      total += v.byteLength;
      continue;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
      continue;
    }
    for (const k of Object.keys(v)) {
      total += VALUE_OVERHEAD_BYTES + 2 * k.length;
      stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return total;
}
