/**
 * A small, strict MessagePack reader (standard msgpack only; ext values are handed to the caller). It checks every
 * length against the limits and the bytes left before it allocates anything, builds only plain objects and arrays,
 * and never lets a key such as `__proto__` set a prototype. The writer is in msgpack-writer.ts.
 *
 * @module
 */
import { LimitError, ProtocolError } from '../core/errors.js';
import { peerText } from '../core/peer-text.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** Limits the reader enforces. */
export interface ReaderLimits {
  /** Most arrays and maps nested inside each other (the outermost counts as 1). */
  maxDepth: number;
  /** Longest string in UTF-8 bytes. */
  maxStringBytes: number;
  /** Most entries of one array or map. */
  maxCollectionLength: number;
  /**
   * Most values in the whole input: every scalar, string, array, map, map key and ext value counts one, also those
   * inside ext bodies. Checked when an array or map announces its entries, before it is allocated, so the objects a
   * message can make the reader build are bounded whatever the header's size. Absent: no limit.
   */
  maxValues?: number;
}

/** The body of the ext value being read, as an {@link ExtHandler} gets it. */
export interface ExtBody {
  /** Length of the body in bytes. */
  readonly length: number;
  /** Decodes the one msgpack value the body holds (in place, without copying); throws like the reader. */
  read(): unknown;
}

/**
 * Turns an ext value into a JS value; `body.read()` decodes the msgpack value its body holds. Ext bodies are small
 * fixed-form values: they may nest at most {@link EXT_BODY_MAX_DEPTH} arrays or maps and hold no ext value and no float. The body
 * is valid only during the call.
 */
export type ExtHandler = (type: number, body: ExtBody) => unknown;

/** Most arrays and maps nested inside each other in an ext body. */
export const EXT_BODY_MAX_DEPTH = 2;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strings of at most this many bytes are read with a byte loop when they are ASCII (TextDecoder otherwise). */
const ASCII_FAST_MAX = 32;

/** Ext bodies hold dtype names, shapes and frame references: integers and strings, never floats (no `2.0`, `-0`). */
function floatInBody(): never {
  throw new ProtocolError('an ext body must not hold a float (dimensions and frame references are integers)');
}

function noExtInBody(): never {
  throw new ProtocolError('an ext body must not hold an ext value');
}

/**
 * Reads one msgpack value from `bytes`, which must hold exactly that value.
 * @throws {@link ProtocolError} on malformed input, {@link LimitError} on input over a limit.
 */
export function readMsgpack(bytes: Uint8Array, limits: ReaderLimits, onExt: ExtHandler): unknown {
  if ((limits.maxValues ?? 1) < 1) throw new LimitError(`maxValues ${limits.maxValues} leaves no room for a value`);
  const reader = new Reader(bytes, limits, onExt);
  const value = reader.value(0);
  if (reader.pos !== bytes.byteLength) {
    throw new ProtocolError(`trailing bytes after msgpack value (${bytes.byteLength - reader.pos} bytes)`);
  }
  return value;
}

class Reader implements ExtBody {
  pos = 0;
  /** Created on the first read that needs it (small headers never do). */
  private dataView: DataView | undefined;
  /** End of the value being read: the input's end, or an ext body's end while one is read in place. */
  private end: number;
  /** Nesting limit in force: the caller's, or {@link EXT_BODY_MAX_DEPTH} inside an ext body. */
  private maxDepth: number;
  /** True while an ext body is read (an ext value there is refused). */
  private inExt = false;
  /** Where the body of the ext value handed to the {@link ExtHandler} starts, and its length. */
  private bodyStart = 0;
  /** Length of the body of the ext value being handled. */
  length = 0;
  /** Values announced so far (the root, plus every entry of every array and map, keys counted). */
  private values = 1;
  private readonly maxValues: number;

  constructor(
    private readonly input: Uint8Array,
    private readonly limits: ReaderLimits,
    private readonly onExt: ExtHandler,
  ) {
    this.end = input.byteLength;
    this.maxDepth = limits.maxDepth;
    this.maxValues = limits.maxValues ?? Number.POSITIVE_INFINITY;
  }

  /** Reads the value the body of the ext value being handled holds, in place. */
  read(): unknown {
    const { pos, end, maxDepth } = this;
    this.pos = this.bodyStart;
    this.end = this.bodyStart + this.length;
    this.maxDepth = EXT_BODY_MAX_DEPTH;
    this.inExt = true;
    try {
      const v = this.value(0);
      if (this.pos !== this.end) throw new ProtocolError('trailing bytes in ext body');
      return v;
    } finally {
      this.pos = pos;
      this.end = end;
      this.maxDepth = maxDepth;
      this.inExt = false;
    }
  }

  private get view(): DataView {
    if (this.dataView === undefined) {
      this.dataView = new DataView(this.input.buffer, this.input.byteOffset, this.input.byteLength);
    }
    return this.dataView;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new ProtocolError('truncated msgpack data');
  }

  private u8(): number {
    this.need(1);
    return this.input[this.pos++]!;
  }
  private u16(): number {
    this.need(2);
    const b = this.input;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }
  private u32(): number {
    this.need(4);
    const b = this.input;
    const p = this.pos;
    this.pos = p + 4;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  private collection(n: number, minBytesEach: number, what: string, depth: number): void {
    if (depth >= this.maxDepth) {
      throw new LimitError(`more than ${this.maxDepth} arrays and maps nested inside each other`);
    }
    if (n > this.limits.maxCollectionLength) {
      throw new LimitError(`${what} of ${n} entries exceeds the limit of ${this.limits.maxCollectionLength}`);
    }
    if (n * minBytesEach > this.end - this.pos) throw new ProtocolError(`truncated msgpack ${what}`);
    // Each entry of an array is one value, each entry of a map two (key and value).
    this.values += n * (minBytesEach === 2 ? 2 : 1);
    if (this.values > this.maxValues) {
      throw new LimitError(`message holds more than ${this.maxValues} msgpack values (the limit maxValues)`);
    }
  }

  private str(n: number): string {
    if (n > this.limits.maxStringBytes) {
      throw new LimitError(`string of ${n} bytes exceeds the limit of ${this.limits.maxStringBytes}`);
    }
    this.need(n);
    const start = this.pos;
    this.pos += n;
    if (n <= ASCII_FAST_MAX) {
      // Keys and short values are ASCII: a byte loop is several times faster than TextDecoder on a few bytes.
      const b = this.input;
      let s = '';
      let i = start;
      const end = start + n;
      for (; i < end; i++) {
        const c = b[i]!;
        if (c >= 0x80) break;
        s += String.fromCharCode(c);
      }
      if (i === end) return s;
    }
    try {
      return utf8.decode(this.input.subarray(start, start + n));
    } catch (cause) {
      throw new ProtocolError('string is not valid UTF-8', { cause });
    }
  }

  private bin(n: number): Uint8Array {
    this.need(n);
    const start = this.pos;
    this.pos += n;
    // A plain Uint8Array view (never a Buffer), so decoded bytes compare equal to the bytes that were sent.
    return new Uint8Array(this.input.buffer, this.input.byteOffset + start, n);
  }

  private array(n: number, depth: number): unknown[] {
    this.collection(n, 1, 'array', depth);
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }

  private map(n: number, depth: number): Record<string, unknown> {
    this.collection(n, 2, 'map', depth);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.value(depth + 1);
      let key: string;
      if (typeof k === 'string') key = k;
      else if ((typeof k === 'number' && Number.isInteger(k)) || typeof k === 'bigint') key = String(k);
      else throw new ProtocolError(`map key of type ${k === null ? 'nil' : typeof k} is not supported`);
      const v = this.value(depth + 1);
      if (Object.hasOwn(out, key)) throw new ProtocolError(`duplicate map key ${peerText(key)}`);
      if (key === '__proto__') {
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      } else out[key] = v;
    }
    return out;
  }

  private ext(n: number): unknown {
    this.need(1);
    const type = (this.input[this.pos]! << 24) >> 24;
    this.pos += 1;
    this.need(n);
    if (this.inExt) noExtInBody();
    this.bodyStart = this.pos;
    this.length = n;
    this.pos += n;
    return this.onExt(type, this);
  }

  private uint64(): number | bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v <= MAX_SAFE ? Number(v) : v;
  }

  private int64(): number | bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v;
  }

  /** Reads one value; `depth` is the number of arrays and maps around it. */
  value(depth: number): unknown {
    const t = this.u8();
    if (t < 0x80) return t;
    if (t < 0x90) return this.map(t & 0x0f, depth);
    if (t < 0xa0) return this.array(t & 0x0f, depth);
    if (t < 0xc0) return this.str(t & 0x1f);
    if (t >= 0xe0) return t - 0x100;
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.u8());
      case 0xc5:
        return this.bin(this.u16());
      case 0xc6:
        return this.bin(this.u32());
      case 0xc7:
        return this.ext(this.u8());
      case 0xc8:
        return this.ext(this.u16());
      case 0xc9:
        return this.ext(this.u32());
      case 0xca: {
        if (this.inExt) floatInBody();
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xcb: {
        if (this.inExt) floatInBody();
        this.need(8);
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return this.uint64();
      case 0xd0: {
        this.need(1);
        return (this.input[this.pos++]! << 24) >> 24;
      }
      case 0xd1: {
        this.need(2);
        const v = this.view.getInt16(this.pos);
        this.pos += 2;
        return v;
      }
      case 0xd2: {
        this.need(4);
        const v = this.view.getInt32(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xd3:
        return this.int64();
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default:
        throw new ProtocolError(`invalid msgpack type byte 0x${t.toString(16)}`);
    }
  }
}
