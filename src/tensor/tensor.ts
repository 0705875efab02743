/**
 * `Tensor`: a dtype, a shape and a typed array holding the elements in C order, little-endian.
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';

const TENSOR_BRAND = Symbol.for('edgeml.tensor');

/** Element types, named as numpy names them. */
export type DType =
  | 'bool'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float16'
  | 'bfloat16'
  | 'float32'
  | 'float64';

/** The typed array that holds each dtype's elements. */
export interface DTypeArrayMap {
  bool: Uint8Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  float32: Float32Array;
  float64: Float64Array;
}

/** Any typed array edgeml can carry. */
export type TypedArray = DTypeArrayMap[DType];

/** A typed-array constructor, e.g. `Float32Array`. */
export type TypedArrayConstructor = {
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray;
  new (length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

/** Every dtype name, in a fixed order (the order is also the dtype's wire code, see docs/protocol.md). */
export const DTYPES: readonly DType[] = [
  'bool',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float16',
  'bfloat16',
  'float32',
  'float64',
];

const ARRAY_OF: { readonly [K in DType]: TypedArrayConstructor } = {
  bool: Uint8Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

/** True when `name` is one of the supported dtype names. */
export function isDType(name: unknown): name is DType {
  return typeof name === 'string' && Object.hasOwn(ARRAY_OF, name);
}

/** The typed-array constructor that holds `dtype`'s elements (e.g. `Uint16Array` for `float16`). */
export function arrayTypeOf(dtype: DType): TypedArrayConstructor {
  return ARRAY_OF[dtype];
}

/** Bytes per element of `dtype`. */
export function itemSize(dtype: DType): number {
  return ARRAY_OF[dtype].BYTES_PER_ELEMENT;
}

/**
 * The dtype a plain typed array stands for when sent on its own: the natural one for its class (`Uint16Array` is
 * `uint16`, `Uint8ClampedArray` is not supported). Returns `undefined` for unsupported classes.
 */
export function dtypeOfArray(data: ArrayBufferView): DType | undefined {
  switch (data.constructor) {
    case Uint8Array:
      return 'uint8';
    case Int8Array:
      return 'int8';
    case Int16Array:
      return 'int16';
    case Uint16Array:
      return 'uint16';
    case Int32Array:
      return 'int32';
    case Uint32Array:
      return 'uint32';
    case BigInt64Array:
      return 'int64';
    case BigUint64Array:
      return 'uint64';
    case Float32Array:
      return 'float32';
    case Float64Array:
      return 'float64';
    default:
      // Buffer and other Uint8Array subclasses
      return data instanceof Uint8Array && !(data instanceof Uint8ClampedArray) ? 'uint8' : undefined;
  }
}

/** Number of elements of a tensor with this shape (1 for a 0-d shape). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new InvalidArgumentError('shape', `dimensions must be non-negative integers, got ${String(d)}`);
    }
  }
}

/**
 * An n-dimensional array: `dtype`, `shape` and `data`, C order, little-endian.
 *
 * `data` is the typed array matching the dtype: `Uint16Array` for `float16` and `bfloat16` (raw bits), `Uint8Array`
 * for `bool` (0 or 1), `BigInt64Array`/`BigUint64Array` for 64-bit integers. The tensor keeps a reference to `data`;
 * it never copies it. When a tensor is sent, its bytes travel as their own frame without being copied into a larger
 * buffer, so do not modify `data` until the call or publish that sends it has settled.
 *
 * @example
 * ```ts
 * const image = new Tensor('uint8', new Uint8Array(224 * 224 * 3), [224, 224, 3]);
 * const scalar = new Tensor('float32', Float32Array.of(1.5), []);
 * ```
 */
export class Tensor<D extends DType = DType> {
  /** Element type. */
  readonly dtype: D;
  /** Dimensions; `[]` for a scalar (0-d) tensor. */
  readonly shape: readonly number[];
  /** Elements in C order. */
  readonly data: DTypeArrayMap[D];

  /**
   * @param dtype numpy dtype name
   * @param data typed array matching the dtype, with exactly `product(shape)` elements
   * @param shape dimensions; defaults to `[data.length]`
   * @throws {@link InvalidArgumentError} when the dtype is unknown, the typed array does not match the dtype, or the
   * element count differs from the product of the shape.
   */
  constructor(dtype: D, data: DTypeArrayMap[D], shape?: readonly number[]) {
    if (!isDType(dtype)) {
      throw new InvalidArgumentError(
        'dtype',
        `unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(', ')}`,
      );
    }
    const expected = ARRAY_OF[dtype];
    if (!ArrayBuffer.isView(data) || !(data instanceof expected) || data instanceof Uint8ClampedArray) {
      const got = ArrayBuffer.isView(data) ? data.constructor.name : typeof data;
      throw new InvalidArgumentError('data', `dtype ${dtype} needs a ${expected.name}, got ${got}`);
    }
    if (shape !== undefined && !Array.isArray(shape)) {
      throw new InvalidArgumentError('shape', 'must be an array of non-negative integers');
    }
    const dims = shape === undefined ? [data.length] : [...shape];
    checkShape(dims);
    const n = shapeSize(dims);
    if (n !== data.length) {
      throw new InvalidArgumentError(
        'shape',
        `shape [${dims.join(', ')}] holds ${n} elements but data has ${data.length}`,
      );
    }
    this.dtype = dtype;
    this.shape = Object.freeze(dims);
    this.data = data;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Size of the data in bytes. */
  get byteLength(): number {
    return this.data.byteLength;
  }

  /** The tensor's bytes as a `Uint8Array` view (no copy). */
  bytes(): Uint8Array {
    return new Uint8Array(this.data.buffer, this.data.byteOffset, this.data.byteLength);
  }

  /** A tensor of the same data with another shape of the same size (no copy). */
  reshape(shape: readonly number[]): Tensor<D> {
    return new Tensor(this.dtype, this.data, shape);
  }

  /**
   * Builds a tensor from a plain typed array, inferring the dtype (`Float32Array` is `float32`, ...).
   * @param shape defaults to `[data.length]`
   */
  static from(data: TypedArray, shape?: readonly number[]): Tensor {
    const dtype = dtypeOfArray(data);
    if (dtype === undefined) throw new InvalidArgumentError('data', `unsupported typed array ${data.constructor.name}`);
    return new Tensor(dtype, data as DTypeArrayMap[typeof dtype], shape);
  }

  /**
   * Builds a tensor from an onnxruntime-style tensor `{ type, dims, data }` (`type` is `float32`, `uint8`, `int64`,
   * `bool`, `float16`, ...). The data is shared, not copied.
   */
  static fromOnnx(value: { type: string; dims: readonly number[]; data: unknown }): Tensor {
    const dtype = value.type;
    if (!isDType(dtype)) {
      throw new InvalidArgumentError('type', `unsupported onnx tensor type ${JSON.stringify(value.type)}`);
    }
    let data = value.data;
    if (dtype === 'float16' && ArrayBuffer.isView(data) && data.constructor.name === 'Float16Array') {
      // onnxruntime may hand float16 data as a Float16Array where the runtime has one: take its raw bits.
      data = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
    }
    return new Tensor(dtype, data as DTypeArrayMap[typeof dtype], value.dims);
  }

  /** The onnxruntime-style `{ type, dims, data }` form of this tensor (data shared, not copied). */
  toOnnx(): { type: D; dims: readonly number[]; data: DTypeArrayMap[D] } {
    return { type: this.dtype, dims: this.shape, data: this.data };
  }
}

Object.defineProperty(Tensor.prototype, TENSOR_BRAND, { value: true });

/** True for a {@link Tensor}, also one created by another copy of the library (the check uses a global brand). */
export function isTensor(value: unknown): value is Tensor {
  return value instanceof Tensor || (typeof value === 'object' && value !== null && TENSOR_BRAND in value);
}
