/**
 * A small, strict MessagePack reader (standard msgpack only; ext values are handed to the caller). It checks every
 * length against the limits and the bytes left before it allocates anything, builds only plain objects and arrays,
 * and never lets a key such as `__proto__` set a prototype. The writer is in msgpack-writer.ts.
 *
 * @module
 */
import { LimitError, ProtocolError } from './errors.js';

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
}

/**
 * Turns an ext value into a JS value; `read` decodes the msgpack value an ext body holds. Ext bodies are small
 * fixed-form values: they may nest at most {@link EXT_BODY_MAX_DEPTH} arrays or maps and hold no ext value.
 */
export type ExtHandler = (type: number, body: Uint8Array, read: (body: Uint8Array) => unknown) => unknown;

/** Most arrays and maps nested inside each other in an ext body. */
export const EXT_BODY_MAX_DEPTH = 2;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function noExtInBody(): never {
  throw new ProtocolError('an ext body must not hold an ext value');
}

/**
 * Reads one msgpack value from `bytes`, which must hold exactly that value.
 * @throws {@link ProtocolError} on malformed input, {@link LimitError} on input over a limit.
 */
export function readMsgpack(bytes: Uint8Array, limits: ReaderLimits, onExt: ExtHandler): unknown {
  const reader = new Reader(bytes, limits, onExt);
  const value = reader.value(0);
  if (reader.pos !== bytes.byteLength) {
    throw new ProtocolError(`trailing bytes after msgpack value (${bytes.byteLength - reader.pos} bytes)`);
  }
  return value;
}

class Reader {
  pos = 0;
  private readonly view: DataView;
  private readonly end: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly limits: ReaderLimits,
    private readonly onExt: ExtHandler,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.end = bytes.byteLength;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new ProtocolError('truncated msgpack data');
  }

  private u8(): number {
    this.need(1);
    return this.bytes[this.pos++]!;
  }
  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  private collection(n: number, minBytesEach: number, what: string, depth: number): void {
    if (depth >= this.limits.maxDepth) {
      throw new LimitError(`more than ${this.limits.maxDepth} arrays and maps nested inside each other`);
    }
    if (n > this.limits.maxCollectionLength) {
      throw new LimitError(`${what} of ${n} entries exceeds the limit of ${this.limits.maxCollectionLength}`);
    }
    if (n * minBytesEach > this.end - this.pos) throw new ProtocolError(`truncated msgpack ${what}`);
  }

  private str(n: number): string {
    if (n > this.limits.maxStringBytes) {
      throw new LimitError(`string of ${n} bytes exceeds the limit of ${this.limits.maxStringBytes}`);
    }
    this.need(n);
    const start = this.pos;
    this.pos += n;
    try {
      return utf8.decode(this.bytes.subarray(start, start + n));
    } catch (cause) {
      throw new ProtocolError('string is not valid UTF-8', { cause });
    }
  }

  private bin(n: number): Uint8Array {
    this.need(n);
    const start = this.pos;
    this.pos += n;
    // A plain Uint8Array view (never a Buffer), so decoded bytes compare equal to the bytes that were sent.
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + start, n);
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
      if (Object.hasOwn(out, key)) throw new ProtocolError(`duplicate map key ${JSON.stringify(key)}`);
      if (key === '__proto__') {
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      } else out[key] = v;
    }
    return out;
  }

  private ext(n: number): unknown {
    this.need(1);
    const type = this.view.getInt8(this.pos);
    this.pos += 1;
    const body = this.bin(n);
    return this.onExt(type, body, (inner) => {
      const r = new Reader(inner, { ...this.limits, maxDepth: EXT_BODY_MAX_DEPTH }, noExtInBody);
      const v = r.value(0);
      if (r.pos !== inner.byteLength) throw new ProtocolError('trailing bytes in ext body');
      return v;
    });
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
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xcb: {
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
        return this.view.getInt8(this.pos++);
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
