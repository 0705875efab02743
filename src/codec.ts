/**
 * The message codec: a value tree to a list of frames and back. Pure functions, no sockets.
 *
 * Frame 0 is a msgpack header holding the value. Every tensor and typed array, and every byte string of at least
 * `inlineBytesMax` bytes, travels as its own frame (frames 1..n), referenced from the header by index through a
 * msgpack ext value. Encoding never concatenates tensor bytes into a larger buffer: each data frame is a view on the
 * caller's memory. Decoding gives views on the received frames, copying only when a typed array's alignment needs it.
 * See docs/protocol.md for the normative description.
 *
 * @module
 */
import { InvalidArgumentError, LimitError, ProtocolError } from './errors.js';
import { MsgpackWriter, type ReaderLimits, readMsgpack } from './msgpack.js';
import {
  DEFAULT_INLINE_BYTES_MAX,
  DEFAULT_MAX_COLLECTION_LENGTH,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_FRAMES,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_STRING_BYTES,
} from './options.js';
import { arrayTypeOf, type DType, dtypeOfArray, isDType, shapeSize, Tensor, type TypedArray } from './tensor.js';

/** One frame of a message. */
export type Frame = Uint8Array;

/** msgpack ext type of a byte string stored in its own frame; body: the frame index (uint). */
export const EXT_BYTES = 1;
/** msgpack ext type of a typed array; body: `[dtype, frameIndex]`. */
export const EXT_TYPED_ARRAY = 2;
/** msgpack ext type of a tensor; body: `[dtype, shape, frameIndex]`. */
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
  | readonly Value[]
  | { readonly [key: string]: Value };

/** Options of {@link encodeMessage}. */
export interface EncodeOptions {
  /** Byte strings at least this long travel as their own frame. @default {@link DEFAULT_INLINE_BYTES_MAX} */
  inlineBytesMax?: number;
  /** Deepest nesting accepted. @default {@link DEFAULT_MAX_DEPTH} */
  maxDepth?: number;
}

/** Limits {@link decodeMessage} enforces, each checked before the memory it guards is allocated. */
export interface DecodeLimits {
  /** Most frames in a message. @default {@link DEFAULT_MAX_FRAMES} */
  maxFrames?: number;
  /** Most bytes in a message, all frames together. @default {@link DEFAULT_MAX_MESSAGE_BYTES} */
  maxMessageBytes?: number;
  /** Most bytes in the header frame. @default {@link DEFAULT_MAX_HEADER_BYTES} */
  maxHeaderBytes?: number;
  /** Deepest nesting. @default {@link DEFAULT_MAX_DEPTH} */
  maxDepth?: number;
  /** Longest string, in UTF-8 bytes. @default {@link DEFAULT_MAX_STRING_BYTES} */
  maxStringBytes?: number;
  /** Most entries of one array or object. @default {@link DEFAULT_MAX_COLLECTION_LENGTH} */
  maxCollectionLength?: number;
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

function extBody(build: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter(32);
  build(w);
  return w.finish();
}

class Encoder {
  readonly writer = new MsgpackWriter();
  readonly frames: Frame[] = [new Uint8Array(0)];

  constructor(
    private readonly inlineMax: number,
    private readonly maxDepth: number,
  ) {}

  private frame(data: Uint8Array): number {
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
    if (depth >= this.maxDepth) throw new EncodeFailure([], `nesting deeper than the limit of ${this.maxDepth}`, true);
    if (Array.isArray(v)) {
      w.arrayHeader(v.length);
      for (let i = 0; i < v.length; i++) this.child(v[i], depth, i);
      return;
    }
    if (v instanceof Tensor) {
      const index = this.frame(v.bytes());
      w.ext(
        EXT_TENSOR,
        extBody((b) => {
          b.arrayHeader(3);
          b.string(v.dtype);
          b.arrayHeader(v.shape.length);
          for (const d of v.shape) b.int(d);
          b.int(index);
        }),
      );
      return;
    }
    if (ArrayBuffer.isView(v)) {
      if (v instanceof Uint8Array && !(v instanceof Uint8ClampedArray)) return this.bytes(v);
      const dtype = dtypeOfArray(v);
      if (dtype === undefined) throw new EncodeFailure([], `cannot encode a ${v.constructor.name}`, false);
      const index = this.frame(bytesOf(v));
      w.ext(
        EXT_TYPED_ARRAY,
        extBody((b) => {
          b.arrayHeader(2);
          b.string(dtype);
          b.int(index);
        }),
      );
      return;
    }
    if (v instanceof ArrayBuffer) return this.bytes(new Uint8Array(v));
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      const name = (v as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new EncodeFailure(
        [],
        `cannot encode a ${name} (only plain objects, arrays, tensors and typed arrays)`,
        false,
      );
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
    const plain = v.constructor === Uint8Array ? v : bytesOf(v);
    const index = this.frame(plain);
    this.writer.ext(
      EXT_BYTES,
      extBody((b) => b.int(index)),
    );
  }
}

/**
 * Encodes `value` into frames: frame 0 is the msgpack header, frames 1..n the raw bytes of tensors, typed arrays and
 * large byte strings (views on the caller's memory, not copies).
 *
 * @throws {@link InvalidArgumentError} (field `payload...path`) for a value that cannot be encoded, {@link LimitError}
 * when nesting exceeds `maxDepth` (also how cycles are caught).
 */
export function encodeMessage(value: unknown, options: EncodeOptions = {}): Frame[] {
  const enc = new Encoder(options.inlineBytesMax ?? DEFAULT_INLINE_BYTES_MAX, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  try {
    enc.value(value, 0);
  } catch (e) {
    if (!(e instanceof EncodeFailure)) throw e;
    const field = `payload${e.path.join('')}`;
    if (e.limit) throw new LimitError(`${field}: ${e.reason}`);
    throw new InvalidArgumentError(field, e.reason);
  }
  enc.frames[0] = enc.writer.finish();
  return enc.frames;
}

function frameIndex(ref: unknown, frameCount: number, used: Uint8Array): number {
  if (typeof ref !== 'number' || !Number.isInteger(ref) || ref < 1 || ref >= frameCount) {
    throw new ProtocolError(`invalid frame reference ${String(ref)} (message has ${frameCount} frames)`);
  }
  if (used[ref] === 1) throw new ProtocolError(`frame ${ref} is referenced twice`);
  used[ref] = 1;
  return ref;
}

/** A typed array view of `frame` for `dtype`; copies only when the frame is not aligned for the element size. */
function typedView(dtype: DType, frame: Uint8Array): TypedArray {
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

function plainBytes(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function asDType(v: unknown): DType {
  if (!isDType(v)) throw new ProtocolError(`unknown dtype ${JSON.stringify(v)}`);
  return v;
}

/**
 * Decodes frames produced by {@link encodeMessage} (or by any peer following docs/protocol.md). Builds only plain
 * data; never executes anything from the input.
 *
 * @throws {@link ProtocolError} for malformed input, {@link LimitError} for input over a limit.
 */
export function decodeMessage(frames: readonly Frame[], limits: DecodeLimits = {}): unknown {
  const maxFrames = limits.maxFrames ?? DEFAULT_MAX_FRAMES;
  if (frames.length === 0) throw new ProtocolError('empty message');
  if (frames.length > maxFrames)
    throw new LimitError(`message of ${frames.length} frames exceeds the limit of ${maxFrames}`);
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
  };
  const used = new Uint8Array(frames.length);
  const value = readMsgpack(header, readerLimits, (type, body, read) => {
    switch (type) {
      case EXT_BYTES: {
        const i = frameIndex(read(body), frames.length, used);
        return plainBytes(frames[i]!);
      }
      case EXT_TYPED_ARRAY: {
        const parts = read(body);
        if (!Array.isArray(parts) || parts.length !== 2)
          throw new ProtocolError('typed array ext needs [dtype, frame]');
        const dtype = asDType(parts[0]);
        const i = frameIndex(parts[1], frames.length, used);
        return typedView(dtype, frames[i]!);
      }
      case EXT_TENSOR: {
        const parts = read(body);
        if (!Array.isArray(parts) || parts.length !== 3) {
          throw new ProtocolError('tensor ext needs [dtype, shape, frame]');
        }
        const dtype = asDType(parts[0]);
        const shape = parts[1];
        if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
          throw new ProtocolError('tensor shape must be an array of non-negative integers');
        }
        const i = frameIndex(parts[2], frames.length, used);
        const data = typedView(dtype, frames[i]!);
        const count = shapeSize(shape as number[]);
        if (count !== data.length) {
          throw new ProtocolError(
            `tensor shape [${shape.join(', ')}] needs ${count} elements, frame holds ${data.length}`,
          );
        }
        return new Tensor(dtype, data as never, shape as number[]);
      }
      default:
        throw new ProtocolError(`unknown msgpack ext type ${type}`);
    }
  });
  for (let i = 1; i < frames.length; i++) {
    if (used[i] !== 1) throw new ProtocolError(`frame ${i} is not referenced by the header`);
  }
  return value;
}
