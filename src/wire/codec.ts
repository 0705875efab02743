/**
 * The message codec: a value tree to a list of frames and back. Pure functions, no sockets.
 *
 * Frame 0 is a msgpack header holding the value. Every tensor and typed array, and every byte string of at least
 * `inlineBytesMax` bytes, travels as its own frame (frames 1..n), referenced from the header by index through a
 * msgpack ext value. Encoding never concatenates tensor bytes into a larger buffer: each data frame is a view on the
 * caller's memory (unless it is compressed, which is off by default). Decoding gives views on the received frames,
 * copying only when a typed array's alignment needs it. See docs/protocol.md for the normative description.
 *
 * @module
 */

import {
  DEFAULT_COMPRESSION_MIN_BYTES,
  DEFAULT_INLINE_BYTES_MAX,
  DEFAULT_MAX_COLLECTION_LENGTH,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_FRAMES,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_STRING_BYTES,
  DEFAULT_MAX_VALUES,
} from '../core/defaults.js';
import { InvalidArgumentError, LimitError, ProtocolError } from '../core/errors.js';
import { peerText } from '../core/peer-text.js';
import type { Frame } from '../core/types.js';
import { type Image, isImage } from '../tensor/image.js';
import {
  arrayTypeOf,
  type DType,
  dtypeOfArray,
  isDType,
  isTensor,
  itemSize,
  shapeSize,
  Tensor,
  type TypedArray,
} from '../tensor/tensor.js';
import { type FrameRef, FrameTable, writeRef } from './frame-refs.js';
import { EXT_IMAGE, readImageExt, writeImageExt } from './image-ext.js';
import { lz4Compress } from './lz4.js';
import { type ExtBody, type ReaderLimits, readMsgpack } from './msgpack-reader.js';
import { acquireWriter, type MsgpackWriter, releaseWriter } from './msgpack-writer.js';

export type { Frame };

/** msgpack ext type of a byte string stored in its own frame; body: a frame reference. */
export const EXT_BYTES = 1;
/** msgpack ext type of a typed array; body: `[dtype, frameReference]`. */
export const EXT_TYPED_ARRAY = 2;
/** msgpack ext type of a tensor; body: `[dtype, shape, frameReference]`. */
export const EXT_TENSOR = 3;

/**
 * Values a payload may hold. Plain objects and arrays nest; `undefined` object properties are left out and
 * `undefined` array elements travel as `null`.
 */
export type Value =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | TypedArray
  | Tensor
  | Image
  | readonly Value[]
  | { readonly [key: string]: Value };

/** Per-frame compression of an encoder. */
export interface CompressionOptions {
  /** The codec: LZ4 block format (docs/protocol.md, "Compression"). */
  codec: 'lz4';
  /**
   * Frames of at least this many bytes are compressed, and sent compressed only when that makes them smaller.
   * @default {@link DEFAULT_COMPRESSION_MIN_BYTES}
   */
  minBytes?: number;
}

/** Options of {@link encodeMessage}. */
export interface EncodeOptions {
  /** Byte strings at least this long travel as their own frame. @default {@link DEFAULT_INLINE_BYTES_MAX} */
  inlineBytesMax?: number;
  /** Most arrays and objects nested inside each other. @default {@link DEFAULT_MAX_DEPTH} */
  maxDepth?: number;
  /**
   * Compresses large data frames. Off by default: compression costs CPU time on both sides and pays only for
   * compressible data (masks, sparse or quantized tensors) on slow links. A compressed frame is a new buffer, not a
   * view on the caller's memory.
   */
  compression?: CompressionOptions;
}

/** Limits {@link decodeMessage} enforces, each checked before the memory it guards is allocated. */
export interface DecodeLimits {
  /** Most frames in a message. @default {@link DEFAULT_MAX_FRAMES} */
  maxFrames?: number;
  /** Most bytes in a message, all frames together, counting compressed frames at their decompressed size.
   * @default {@link DEFAULT_MAX_MESSAGE_BYTES} */
  maxMessageBytes?: number;
  /** Most bytes in the header frame. @default {@link DEFAULT_MAX_HEADER_BYTES} */
  maxHeaderBytes?: number;
  /** Most arrays and maps nested inside each other. @default {@link DEFAULT_MAX_DEPTH} */
  maxDepth?: number;
  /** Longest string, in UTF-8 bytes. @default {@link DEFAULT_MAX_STRING_BYTES} */
  maxStringBytes?: number;
  /** Most entries of one array or object. @default {@link DEFAULT_MAX_COLLECTION_LENGTH} */
  maxCollectionLength?: number;
  /**
   * Most msgpack values in the header, all levels together (every scalar, string, array, map, map key and ext value
   * counts one), checked before each array or map is allocated. Bounds the objects a message can make the decoder
   * build, whatever its size: a 16 MiB header of empty maps would otherwise become 16 M objects.
   * @default {@link DEFAULT_MAX_VALUES}
   */
  maxValues?: number;
}

class EncodeFailure extends Error {
  constructor(
    readonly path: string[],
    readonly reason: string,
    readonly limit: boolean,
  ) {
    super(reason);
  }
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Placeholder of frame 0 while a message is encoded (shared: creating a typed array costs more than encoding a key). */
const NO_HEADER: Frame = new Uint8Array(0);

function nonNegative(field: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v >= 0)) throw new InvalidArgumentError(field, 'must be a non-negative number');
  return v;
}

class Encoder {
  /** Frame 0 is a placeholder until the header is done. */
  readonly frames: Frame[] = [NO_HEADER];
  private readonly inlineMax: number;
  private readonly maxDepth: number;
  private readonly compressMin: number;

  constructor(
    options: EncodeOptions,
    readonly writer: MsgpackWriter,
  ) {
    this.inlineMax = nonNegative('inlineBytesMax', options.inlineBytesMax, DEFAULT_INLINE_BYTES_MAX);
    this.maxDepth = nonNegative('maxDepth', options.maxDepth, DEFAULT_MAX_DEPTH);
    const c = options.compression;
    if (c !== undefined && c.codec !== 'lz4') {
      throw new InvalidArgumentError('compression.codec', `unknown codec ${JSON.stringify(c.codec)}; expected "lz4"`);
    }
    this.compressMin =
      c === undefined
        ? Number.POSITIVE_INFINITY
        : nonNegative('compression.minBytes', c.minBytes, DEFAULT_COMPRESSION_MIN_BYTES);
  }

  /** Adds a data frame; compresses it when enabled, large enough, and worth it. */
  private frame(data: Uint8Array): FrameRef {
    if (data.byteLength >= this.compressMin) {
      const packed = lz4Compress(data, data.byteLength - 1);
      if (packed !== undefined) {
        this.frames.push(packed);
        return [this.frames.length - 1, 'lz4', data.byteLength];
      }
    }
    this.frames.push(data);
    return this.frames.length - 1;
  }

  value(v: unknown, depth: number): void {
    const w = this.writer;
    switch (typeof v) {
      case 'number':
        return w.number(v);
      case 'string':
        return w.string(v);
      case 'boolean':
        return w.bool(v);
      case 'bigint':
        try {
          return w.bigint(v);
        } catch (e) {
          throw new EncodeFailure([], (e as Error).message, false);
        }
      case 'undefined':
        return w.nil();
      case 'object':
        break;
      default:
        throw new EncodeFailure([], `cannot encode a ${typeof v}`, false);
    }
    if (v === null) return w.nil();
    if (isTensor(v)) {
      if (v.dtype === 'bool' && firstNonBoolByte(v.data as Uint8Array) >= 0) {
        throw new EncodeFailure([], 'a bool tensor holds a byte other than 0 or 1', false);
      }
      const ref = this.frame(v.bytes());
      const shape = v.shape;
      const mark = w.extStart();
      w.arrayHeader(3);
      w.string(v.dtype);
      w.arrayHeader(shape.length);
      for (let i = 0; i < shape.length; i++) w.int(shape[i]!);
      writeRef(w, ref);
      w.extEnd(EXT_TENSOR, mark);
      return;
    }
    if (isImage(v)) return writeImageExt(w, v, this.frame(v.bytes));
    if (ArrayBuffer.isView(v)) {
      if (v instanceof Uint8Array && !(v instanceof Uint8ClampedArray)) return this.bytes(v);
      const dtype = dtypeOfArray(v);
      if (dtype === undefined) throw new EncodeFailure([], `cannot encode a ${v.constructor.name}`, false);
      const ref = this.frame(bytesOf(v));
      const mark = w.extStart();
      w.arrayHeader(2);
      w.string(dtype);
      writeRef(w, ref);
      w.extEnd(EXT_TYPED_ARRAY, mark);
      return;
    }
    if (v instanceof ArrayBuffer) return this.bytes(new Uint8Array(v));
    const isArray = Array.isArray(v);
    const proto: unknown = Object.getPrototypeOf(v);
    if (!isArray && proto !== Object.prototype && proto !== null) {
      const name = (v as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new EncodeFailure(
        [],
        `cannot encode a ${name} (only plain objects, arrays, tensors and typed arrays)`,
        false,
      );
    }
    if (depth >= this.maxDepth) {
      throw new EncodeFailure([], `more than ${this.maxDepth} arrays and objects nested inside each other`, true);
    }
    if (isArray) {
      w.arrayHeader(v.length);
      for (let i = 0; i < v.length; i++) this.child(v[i], depth, i);
      return;
    }
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj);
    let n = 0;
    for (const k of keys) if (obj[k] !== undefined) n++;
    w.mapHeader(n);
    for (const k of keys) {
      const item = obj[k];
      if (item === undefined) continue;
      w.string(k);
      this.child(item, depth, k);
    }
  }

  private child(v: unknown, depth: number, key: string | number): void {
    try {
      this.value(v, depth + 1);
    } catch (e) {
      if (e instanceof EncodeFailure) e.path.unshift(typeof key === 'number' ? `[${key}]` : `.${key}`);
      throw e;
    }
  }

  private bytes(v: Uint8Array): void {
    if (v.byteLength < this.inlineMax) return this.writer.bin(v);
    const ref = this.frame(v.constructor === Uint8Array ? v : bytesOf(v));
    const mark = this.writer.extStart();
    writeRef(this.writer, ref);
    this.writer.extEnd(EXT_BYTES, mark);
  }
}

function encode(value: unknown, options: EncodeOptions, field: (path: string[]) => string): Frame[] {
  const enc = new Encoder(options, acquireWriter());
  try {
    enc.value(value, 0);
    enc.frames[0] = enc.writer.copy();
  } catch (e) {
    if (!(e instanceof EncodeFailure)) throw e;
    if (e.limit) throw new LimitError(`${field(e.path)}: ${e.reason}`);
    throw new InvalidArgumentError(field(e.path), e.reason);
  } finally {
    releaseWriter(enc.writer);
  }
  return enc.frames;
}

/**
 * Encodes `value` into frames: frame 0 is the msgpack header, frames 1..n the raw bytes of tensors, typed arrays and
 * large byte strings (views on the caller's memory, not copies, unless compressed). The output depends only on the
 * value and the options: the same input always gives the same bytes.
 *
 * @throws {@link InvalidArgumentError} whose `field` is the path of a value that cannot be encoded (a function,
 * symbol, `Date`, `Map`, class instance, ...), for example `payload.a[2]`; {@link LimitError} when arrays and objects
 * nest deeper than `maxDepth` (also how cycles are caught).
 */
export function encodeMessage(value: unknown, options: EncodeOptions = {}): Frame[] {
  return encode(value, options, (path) => `payload${path.join('')}`);
}

/**
 * Encodes an envelope map (docs/protocol.md, "Envelopes") like {@link encodeMessage}; a value that cannot be
 * encoded is named from the payload (`payload.a[2]` for a value under key `p`) or else from the header
 * (`header.e`). Internal: used by the protocol layer.
 */
export function encodeEnvelope(header: Record<string, unknown>, options: EncodeOptions = {}): Frame[] {
  return encode(header, options, (path) =>
    path[0] === '.p' ? `payload${path.slice(1).join('')}` : `header${path.join('')}`,
  );
}

/** A typed array view of `frame` for `dtype`; copies only when the frame is not aligned for the element size. */
function typedView(dtype: DType, frame: Uint8Array): TypedArray {
  // The frame table hands out plain Uint8Array views, each frame once: uint8 data needs no view of its own.
  if (dtype === 'uint8') return frame;
  const Ctor = arrayTypeOf(dtype);
  const size = Ctor.BYTES_PER_ELEMENT;
  if (frame.byteLength % size !== 0) {
    throw new ProtocolError(`frame of ${frame.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  if (frame.byteOffset % size === 0) return new Ctor(frame.buffer, frame.byteOffset, frame.byteLength / size);
  const copy = new Uint8Array(frame.byteLength);
  copy.set(frame);
  return new Ctor(copy.buffer, 0, frame.byteLength / size);
}

function isShape(shape: unknown): shape is number[] {
  if (!Array.isArray(shape)) return false;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    // The reader refuses floats in ext bodies, so `2.0` and `-0` never get here; checked again for any other caller.
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0 || Object.is(d, -0)) return false;
  }
  return true;
}

function asDType(v: unknown): DType {
  if (!isDType(v)) throw new ProtocolError(`unknown dtype ${peerText(v)}`);
  return v;
}

/** Index of the first byte of `data` that is neither 0 nor 1, or -1. */
export function firstNonBoolByte(data: Uint8Array): number {
  const n = data.length;
  let i = 0;
  // Four bytes at a time where the view is aligned: 0xfefefefe masks every byte's bits above bit 0.
  if (data.byteOffset % 4 === 0 && n >= 64) {
    const words = new Uint32Array(data.buffer, data.byteOffset, n >>> 2);
    for (let w = 0; w < words.length; w++) {
      if ((words[w]! & 0xfefefefe) !== 0) {
        i = w * 4;
        break;
      }
      i = (w + 1) * 4;
    }
  }
  for (; i < n; i++) if (data[i]! > 1) return i;
  return -1;
}

function checkBool(dtype: DType, data: TypedArray): void {
  if (dtype !== 'bool') return;
  const at = firstNonBoolByte(data as Uint8Array);
  if (at >= 0) throw new ProtocolError(`bool element ${at} is ${(data as Uint8Array)[at]}; bool bytes are 0 or 1`);
}

/** The first dimensions of a shape, for an error message (a shape may hold up to maxCollectionLength entries). */
function truncateShape(shape: readonly number[]): string {
  return shape.length <= 8 ? shape.join(', ') : `${shape.slice(0, 8).join(', ')}, … (${shape.length} dims)`;
}

function decodeExt(type: number, ext: ExtBody, table: FrameTable): unknown {
  if (type !== EXT_BYTES && type !== EXT_TYPED_ARRAY && type !== EXT_TENSOR && type !== EXT_IMAGE) {
    throw new ProtocolError(`unknown msgpack ext type ${type}`);
  }
  const body = ext.read();
  switch (type) {
    case EXT_IMAGE:
      return readImageExt(body, table);
    case EXT_BYTES:
      return table.take(body);
    case EXT_TYPED_ARRAY: {
      if (!Array.isArray(body) || body.length !== 2) throw new ProtocolError('typed array ext needs [dtype, frame]');
      const dtype = asDType(body[0]);
      const data = typedView(dtype, table.take(body[1]));
      checkBool(dtype, data);
      return data;
    }
    case EXT_TENSOR: {
      if (!Array.isArray(body) || body.length !== 3) {
        throw new ProtocolError('tensor ext needs [dtype, shape, frame]');
      }
      const dtype = asDType(body[0]);
      const shape: unknown = body[1];
      if (!isShape(shape)) throw new ProtocolError('tensor shape must be an array of non-negative integers');
      const frame = table.take(body[2]);
      const count = shapeSize(shape);
      if (count * itemSize(dtype) !== frame.byteLength) {
        throw new ProtocolError(
          `tensor shape [${truncateShape(shape)}] needs ${count} elements of ${dtype}, frame holds ${frame.byteLength} bytes`,
        );
      }
      const data = typedView(dtype, frame);
      checkBool(dtype, data);
      return new Tensor(dtype, data as never, shape);
    }
  }
}

/**
 * Decodes frames produced by {@link encodeMessage} (or by any peer following docs/protocol.md). Builds only plain
 * data; never executes anything from the input. Byte strings arrive as plain `Uint8Array`, typed arrays as their own
 * class, tensors as {@link Tensor}; data is a view on the received frame unless alignment or decompression needs a
 * new buffer.
 *
 * @throws {@link ProtocolError} for malformed input, {@link LimitError} for input over a limit.
 */
export function decodeMessage(frames: readonly Frame[], limits: DecodeLimits = {}): unknown {
  const maxFrames = limits.maxFrames ?? DEFAULT_MAX_FRAMES;
  if (frames.length === 0) throw new ProtocolError('empty message');
  if (frames.length > maxFrames) {
    throw new LimitError(`message of ${frames.length} frames exceeds the limit of ${maxFrames}`);
  }
  const maxBytes = limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  let total = 0;
  for (const f of frames) total += f.byteLength;
  if (total > maxBytes) throw new LimitError(`message of ${total} bytes exceeds the limit of ${maxBytes}`);
  const header = frames[0]!;
  const maxHeader = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (header.byteLength > maxHeader) {
    throw new LimitError(`header of ${header.byteLength} bytes exceeds the limit of ${maxHeader}`);
  }
  if (header.byteLength === 0) throw new ProtocolError('empty header frame');
  const readerLimits: ReaderLimits = {
    maxDepth: limits.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxStringBytes: limits.maxStringBytes ?? DEFAULT_MAX_STRING_BYTES,
    maxCollectionLength: limits.maxCollectionLength ?? DEFAULT_MAX_COLLECTION_LENGTH,
    maxValues: limits.maxValues ?? DEFAULT_MAX_VALUES,
  };
  // The frame table is made at the first ext value: a message without data frames never needs one.
  let table: FrameTable | undefined;
  const value = readMsgpack(header, readerLimits, (type, ext) => {
    table ??= new FrameTable(frames, total, maxBytes);
    return decodeExt(type, ext, table);
  });
  if (frames.length > 1) (table ?? new FrameTable(frames, total, maxBytes)).checkAllUsed();
  return value;
}
