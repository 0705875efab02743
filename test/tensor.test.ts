import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/core/errors.js';
import {
  arrayTypeOf,
  DTYPES,
  type DType,
  dtypeOfArray,
  isDType,
  isTensor,
  itemSize,
  shapeSize,
  Tensor,
  type TypedArray,
} from '../src/tensor/tensor.js';

const CLASSES: Record<DType, string> = {
  bool: 'Uint8Array',
  int8: 'Int8Array',
  uint8: 'Uint8Array',
  int16: 'Int16Array',
  uint16: 'Uint16Array',
  int32: 'Int32Array',
  uint32: 'Uint32Array',
  int64: 'BigInt64Array',
  uint64: 'BigUint64Array',
  float16: 'Uint16Array',
  bfloat16: 'Uint16Array',
  float32: 'Float32Array',
  float64: 'Float64Array',
};

function thrown(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('dtypes', () => {
  it('has the 13 numpy names, each held by its typed array', () => {
    expect([...DTYPES]).toEqual(Object.keys(CLASSES));
    for (const d of DTYPES) {
      expect(arrayTypeOf(d).name).toBe(CLASSES[d]);
      expect(itemSize(d)).toBe(arrayTypeOf(d).BYTES_PER_ELEMENT);
      expect(isDType(d)).toBe(true);
    }
    for (const bad of ['float128', 'Float32', 'complex64', '', 'toString', '__proto__', 3, null]) {
      expect(isDType(bad)).toBe(false);
    }
  });

  it('infers the natural dtype of a typed array class', () => {
    expect(dtypeOfArray(new Float32Array(1))).toBe('float32');
    expect(dtypeOfArray(new Uint16Array(1))).toBe('uint16');
    expect(dtypeOfArray(new BigInt64Array(1))).toBe('int64');
    expect(dtypeOfArray(Buffer.alloc(1))).toBe('uint8');
    expect(dtypeOfArray(new Uint8ClampedArray(1))).toBeUndefined();
    expect(dtypeOfArray(new DataView(new ArrayBuffer(1)))).toBeUndefined();
  });

  it('computes shape sizes (1 for a 0-d shape, 0 for an empty one)', () => {
    expect(shapeSize([])).toBe(1);
    expect(shapeSize([0, 3])).toBe(0);
    expect(shapeSize([2, 3, 4])).toBe(24);
  });
});

describe('Tensor constructor', () => {
  it.each(DTYPES)('accepts %s with its typed array, in every shape kind', (dtype) => {
    const Ctor = arrayTypeOf(dtype);
    for (const shape of [[], [0, 3], [6], [2, 3]]) {
      const data = new Ctor(shapeSize(shape));
      const t = new Tensor(dtype, data as never, shape);
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual(shape);
      expect(t.data).toBe(data);
      expect(t.size).toBe(shapeSize(shape));
      expect(t.ndim).toBe(shape.length);
      expect(t.byteLength).toBe(shapeSize(shape) * itemSize(dtype));
    }
  });

  it('defaults the shape to one dimension of data.length', () => {
    expect(new Tensor('float32', new Float32Array(5)).shape).toEqual([5]);
  });

  it('accepts a Buffer for uint8 and bool', () => {
    expect(new Tensor('uint8', Buffer.alloc(4), [4]).size).toBe(4);
    expect(new Tensor('bool', Buffer.alloc(4), [2, 2]).size).toBe(4);
  });

  it('rejects a typed array that does not match the dtype, naming both', () => {
    const wrong: [DType, TypedArray | Uint8ClampedArray][] = [
      ['int32', new Float32Array(2)],
      ['int8', new Uint8Array(2)],
      ['uint8', new Uint8ClampedArray(2)],
      ['float16', new Int16Array(2)],
      ['int64', new Float64Array(2)],
      ['float32', new Float64Array(2)],
    ];
    for (const [dtype, data] of wrong) {
      const e = thrown(() => new Tensor(dtype, data as never, [2]));
      expect(e.field).toBe('data');
      expect(e.message).toContain(`dtype ${dtype} needs a ${CLASSES[dtype]}, got ${data.constructor.name}`);
    }
    const e = thrown(() => new Tensor('float32', [1, 2] as never, [2]));
    expect(e.message).toContain('got object');
  });

  it('rejects a shape whose size differs from the data length', () => {
    const e = thrown(() => new Tensor('float32', new Float32Array(5), [2, 3]));
    expect(e.field).toBe('shape');
    expect(e.message).toBe('shape: shape [2, 3] holds 6 elements but data has 5');
    expect(() => new Tensor('float32', new Float32Array(2), [])).toThrow(InvalidArgumentError);
    expect(() => new Tensor('float32', new Float32Array(1), [0, 3])).toThrow(InvalidArgumentError);
  });

  it('rejects negative, fractional and non-numeric dimensions, and a shape that is not an array', () => {
    for (const shape of [[-1], [1.5], [Number.NaN], [Number.POSITIVE_INFINITY], ['2']]) {
      const e = thrown(() => new Tensor('uint8', new Uint8Array(2), shape as never));
      expect(e.field).toBe('shape');
      expect(e.message).toMatch(/non-negative integers/);
    }
    expect(thrown(() => new Tensor('uint8', new Uint8Array(2), '2' as never)).field).toBe('shape');
  });

  it('rejects an unknown dtype and lists the known ones', () => {
    const e = thrown(() => new Tensor('float128' as DType, new Float64Array(1) as never, [1]));
    expect(e.field).toBe('dtype');
    expect(e.message).toContain('unknown dtype "float128"');
    expect(e.message).toContain('bfloat16');
  });

  it('freezes its shape and does not copy the data', () => {
    const shape = [2, 2];
    const data = new Float32Array(4);
    const t = new Tensor('float32', data, shape);
    shape[0] = 9;
    expect(t.shape).toEqual([2, 2]);
    expect(Object.isFrozen(t.shape)).toBe(true);
    data[0] = 7;
    expect(t.data[0]).toBe(7);
  });

  it('reshapes without copying and gives its bytes as a view', () => {
    const data = Float32Array.of(1, 2, 3, 4, 5, 6);
    const t = new Tensor('float32', data, [6]);
    const r = t.reshape([3, 2]);
    expect(r.shape).toEqual([3, 2]);
    expect(r.data).toBe(data);
    expect(() => t.reshape([4, 2])).toThrow(InvalidArgumentError);
    const bytes = t.bytes();
    expect(bytes.buffer).toBe(data.buffer);
    expect(bytes.byteLength).toBe(24);
  });
});

describe('Tensor.from', () => {
  it('infers the dtype from the typed array class', () => {
    const cases: [TypedArray, DType][] = [
      [new Float32Array(2), 'float32'],
      [new Float64Array(2), 'float64'],
      [new Int8Array(2), 'int8'],
      [new Uint8Array(2), 'uint8'],
      [new Int16Array(2), 'int16'],
      [new Uint16Array(2), 'uint16'],
      [new Int32Array(2), 'int32'],
      [new Uint32Array(2), 'uint32'],
      [new BigInt64Array(2), 'int64'],
      [new BigUint64Array(2), 'uint64'],
    ];
    for (const [data, dtype] of cases) {
      const t = Tensor.from(data, [1, 2]);
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual([1, 2]);
      expect(t.data).toBe(data);
    }
    expect(Tensor.from(new Float32Array(3)).shape).toEqual([3]);
  });

  it('rejects typed arrays without a dtype', () => {
    expect(() => Tensor.from(new Uint8ClampedArray(2) as never)).toThrow(/unsupported typed array Uint8ClampedArray/);
  });
});

describe('onnxruntime-style tensors', () => {
  it('converts from and to { type, dims, data } sharing the data', () => {
    for (const dtype of DTYPES) {
      const data = new (arrayTypeOf(dtype))(6);
      const t = Tensor.fromOnnx({ type: dtype, dims: [2, 3], data });
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual([2, 3]);
      expect(t.data).toBe(data);
      const o = t.toOnnx();
      expect(o).toEqual({ type: dtype, dims: [2, 3], data });
      expect(o.data).toBe(data);
    }
  });

  it('rejects onnx types edgeml cannot carry, and mismatched data', () => {
    const e = thrown(() => Tensor.fromOnnx({ type: 'string', dims: [1], data: ['a'] }));
    expect(e.field).toBe('type');
    expect(e.message).toContain('"string"');
    expect(() => Tensor.fromOnnx({ type: 'bool', dims: [2], data: new Float32Array(2) })).toThrow(/needs a Uint8Array/);
    expect(() => Tensor.fromOnnx({ type: 'float32', dims: [3], data: new Float32Array(2) })).toThrow(/holds 3/);
  });
});

describe('isTensor', () => {
  it('recognises tensors, also from another copy of the library', () => {
    expect(isTensor(new Tensor('uint8', new Uint8Array(1)))).toBe(true);
    const foreign = Object.create({ [Symbol.for('edgeml.tensor')]: true });
    expect(isTensor(foreign)).toBe(true);
    expect(isTensor({ dtype: 'uint8', shape: [1], data: new Uint8Array(1) })).toBe(false);
    expect(isTensor(null)).toBe(false);
    expect(isTensor(new Uint8Array(1))).toBe(false);
  });
});
