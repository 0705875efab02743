/**
 * The payloads of the request/reply benchmark (issue 2): one entry per case name, each building the value a user
 * would send and knowing how many payload bytes it carries (the figure MB/s is computed from).
 *
 * @module
 */

import { Tensor } from '../src/tensor/tensor.js';
import { encodeRequest } from '../src/wire/envelopes.js';

/** A benchmark payload. */
export interface BenchCase {
  /** Case name as given to `--cases`. */
  name: string;
  /** What the payload holds, for the report. */
  description: string;
  /** The value sent on each call (the same object every call: the benchmark measures transport, not allocation). */
  payload: unknown;
  /**
   * Bytes of one message carrying the payload, all frames together (msgpack header + raw data frames). The same
   * figure is used for every target, so MB/s compares like with like.
   */
  bytes: number;
}

/** Names of the payload cases, in report order. */
export const CASE_NAMES = ['small', 'img224', 'cams4', '10mb', '100mb'] as const;

/** A case name. */
export type CaseName = (typeof CASE_NAMES)[number];

/** True for a known case name. */
export function isCaseName(name: string): name is CaseName {
  return (CASE_NAMES as readonly string[]).includes(name);
}

/** Deterministic, non-constant bytes, so nothing along the way can shortcut zeros. */
function filledBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function image(height: number, width: number, seed: number): Tensor {
  return new Tensor('uint8', filledBytes(height * width * 3, seed), [height, width, 3]);
}

function state(): Tensor {
  return new Tensor('float32', Float32Array.of(0.1, -0.2, 0.3, 0.04, 1.5, -2.25, 3), [7]);
}

function build(name: CaseName): { description: string; payload: unknown } {
  switch (name) {
    case 'small':
      return { description: "{a: 1, b: 'hello'}", payload: { a: 1, b: 'hello' } };
    case 'img224':
      return { description: 'uint8 224x224x3 + float32[7]', payload: { image: image(224, 224, 1), state: state() } };
    case 'cams4':
      return {
        description: '4 x uint8 480x640x3 + float32[7]',
        payload: { cams: [1, 2, 3, 4].map((s) => image(480, 640, s)), state: state() },
      };
    case '10mb':
      return { description: 'float32[2621440] (10 MiB)', payload: { weights: weights(10) } };
    case '100mb':
      return { description: 'float32[26214400] (100 MiB)', payload: { weights: weights(100) } };
  }
}

/** A float32 tensor of `mib` MiB, as a weights update would carry. */
export function weights(mib: number): Tensor {
  const n = (mib * 1024 * 1024) / 4;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (i % 1000) / 7;
  return new Tensor('float32', data, [n]);
}

/** The reply of the upload mode: a small acknowledgement, as a server that only consumes the data would send. */
export const ACK = { ok: true } as const;

/** Builds case `name`. */
export function makeCase(name: CaseName): BenchCase {
  const { description, payload } = build(name);
  let bytes = 0;
  for (const f of encodeRequest(1, 'call', 'echo', payload)) bytes += f.byteLength;
  return { name, description, payload, bytes };
}

/** Sum of the byte lengths of tensors, typed arrays and byte strings anywhere in `value`. */
export function dataBytes(value: unknown): number {
  if (value instanceof Tensor) return value.byteLength;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (Array.isArray(value)) {
    let n = 0;
    for (const v of value) n += dataBytes(v);
    return n;
  }
  if (typeof value === 'object' && value !== null) {
    let n = 0;
    for (const v of Object.values(value)) n += dataBytes(v);
    return n;
  }
  return 0;
}
