/**
 * A small, strict MessagePack writer and reader (standard msgpack only; no extension is interpreted here). The reader
 * checks every length against the limits and the bytes left before it allocates anything, builds only plain objects
 * and arrays, and never lets a key such as `__proto__` set a prototype.
 *
 * @module
 */
import { LimitError, ProtocolError } from './errors.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** Growable output buffer with msgpack primitive writers. */
export class MsgpackWriter {
  private buf: Buffer;
  private view: DataView;
  /** Bytes written so far. */
  pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** The bytes written, as a view on the internal buffer. */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  nil(): void {
    this.ensure(1);
    this.buf[this.pos++] = 0xc0;
  }

  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 0xc3 : 0xc2;
  }

  /** Writes a JS number: integers in the safe range as msgpack ints, everything else as float64. */
  number(v: number): void {
    if (Number.isInteger(v) && Number.isSafeInteger(v) && !Object.is(v, -0)) this.int(v);
    else this.float64(v);
  }

  float64(v: number): void {
    this.ensure(9);
    this.buf[this.pos] = 0xcb;
    this.view.setFloat64(this.pos + 1, v);
    this.pos += 9;
  }

  /** Writes a safe integer in its shortest msgpack form. */
  int(v: number): void {
    this.ensure(9);
    const b = this.buf;
    let p = this.pos;
    if (v >= 0) {
      if (v < 0x80) b[p++] = v;
      else if (v < 0x100) {
        b[p++] = 0xcc;
        b[p++] = v;
      } else if (v < 0x10000) {
        b[p++] = 0xcd;
        this.view.setUint16(p, v);
        p += 2;
      } else if (v < 0x100000000) {
        b[p++] = 0xce;
        this.view.setUint32(p, v);
        p += 4;
      } else {
        b[p++] = 0xcf;
        this.view.setBigUint64(p, BigInt(v));
        p += 8;
      }
    } else if (v >= -32) b[p++] = v & 0xff;
    else if (v >= -0x80) {
      b[p++] = 0xd0;
      this.view.setInt8(p++, v);
    } else if (v >= -0x8000) {
      b[p++] = 0xd1;
      this.view.setInt16(p, v);
      p += 2;
    } else if (v >= -0x80000000) {
      b[p++] = 0xd2;
      this.view.setInt32(p, v);
      p += 4;
    } else {
      b[p++] = 0xd3;
      this.view.setBigInt64(p, BigInt(v));
      p += 8;
    }
    this.pos = p;
  }

  /** Writes a bigint: as a plain int when it is in the safe range, else as uint64/int64. */
  bigint(v: bigint): void {
    if (v >= MIN_SAFE && v <= MAX_SAFE) return this.int(Number(v));
    this.ensure(9);
    if (v > 0n) {
      if (v > 0xffffffffffffffffn) throw new ProtocolError(`bigint ${v} does not fit in 64 bits`);
      this.buf[this.pos] = 0xcf;
      this.view.setBigUint64(this.pos + 1, v);
    } else {
      if (v < -0x8000000000000000n) throw new ProtocolError(`bigint ${v} does not fit in 64 bits`);
      this.buf[this.pos] = 0xd3;
      this.view.setBigInt64(this.pos + 1, v);
    }
    this.pos += 9;
  }

  string(s: string): void {
    // Worst case 3 bytes per UTF-16 unit, plus a 5-byte header.
    const max = s.length * 3;
    this.ensure(max + 5);
    if (s.length < 32 && max < 32) {
      const n = this.buf.write(s, this.pos + 1, 'utf8');
      this.buf[this.pos] = 0xa0 | n;
      this.pos += 1 + n;
      return;
    }
    const start = this.pos + 5;
    const n = this.buf.write(s, start, 'utf8');
    // Move into the shortest header form.
    let hdr: number;
    if (n < 32) hdr = 1;
    else if (n < 0x100) hdr = 2;
    else if (n < 0x10000) hdr = 3;
    else hdr = 5;
    if (hdr !== 5) this.buf.copyWithin(this.pos + hdr, start, start + n);
    const p = this.pos;
    if (hdr === 1) this.buf[p] = 0xa0 | n;
    else if (hdr === 2) {
      this.buf[p] = 0xd9;
      this.buf[p + 1] = n;
    } else if (hdr === 3) {
      this.buf[p] = 0xda;
      this.view.setUint16(p + 1, n);
    } else {
      this.buf[p] = 0xdb;
      this.view.setUint32(p + 1, n);
    }
    this.pos = p + hdr + n;
  }

  bin(data: Uint8Array): void {
    const n = data.byteLength;
    this.ensure(n + 5);
    const p = this.pos;
    if (n < 0x100) {
      this.buf[p] = 0xc4;
      this.buf[p + 1] = n;
      this.pos += 2;
    } else if (n < 0x10000) {
      this.buf[p] = 0xc5;
      this.view.setUint16(p + 1, n);
      this.pos += 3;
    } else {
      this.buf[p] = 0xc6;
      this.view.setUint32(p + 1, n);
      this.pos += 5;
    }
    this.buf.set(data, this.pos);
    this.pos += n;
  }

  arrayHeader(n: number): void {
    this.ensure(5);
    const p = this.pos;
    if (n < 16) {
      this.buf[p] = 0x90 | n;
      this.pos += 1;
    } else if (n < 0x10000) {
      this.buf[p] = 0xdc;
      this.view.setUint16(p + 1, n);
      this.pos += 3;
    } else {
      this.buf[p] = 0xdd;
      this.view.setUint32(p + 1, n);
      this.pos += 5;
    }
  }

  mapHeader(n: number): void {
    this.ensure(5);
    const p = this.pos;
    if (n < 16) {
      this.buf[p] = 0x80 | n;
      this.pos += 1;
    } else if (n < 0x10000) {
      this.buf[p] = 0xde;
      this.view.setUint16(p + 1, n);
      this.pos += 3;
    } else {
      this.buf[p] = 0xdf;
      this.view.setUint32(p + 1, n);
      this.pos += 5;
    }
  }

  /** Writes an ext value whose body is `body` (ext 8/16/32 forms, or fixext where the length fits). */
  ext(type: number, body: Uint8Array): void {
    const n = body.byteLength;
    this.ensure(n + 6);
    const b = this.buf;
    const p = this.pos;
    const fix = n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0;
    if (fix !== 0) {
      b[p] = fix;
      b[p + 1] = type;
      this.pos += 2;
    } else if (n < 0x100) {
      b[p] = 0xc7;
      b[p + 1] = n;
      b[p + 2] = type;
      this.pos += 3;
    } else if (n < 0x10000) {
      b[p] = 0xc8;
      this.view.setUint16(p + 1, n);
      b[p + 3] = type;
      this.pos += 4;
    } else {
      b[p] = 0xc9;
      this.view.setUint32(p + 1, n);
      b[p + 5] = type;
      this.pos += 6;
    }
    b.set(body, this.pos);
    this.pos += n;
  }
}

/** Limits the reader enforces. */
export interface ReaderLimits {
  /** Deepest nesting of arrays, maps and ext bodies. */
  maxDepth: number;
  /** Longest string in UTF-8 bytes. */
  maxStringBytes: number;
  /** Most entries of one array or map. */
  maxCollectionLength: number;
}

/** Turns an ext value into a JS value; `read` decodes a msgpack value from the ext body, one level deeper. */
export type ExtHandler = (type: number, body: Uint8Array, read: (body: Uint8Array) => unknown) => unknown;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads one msgpack value from `bytes`, which must hold exactly that value.
 * @throws {@link ProtocolError} on malformed input, {@link LimitError} on input over a limit.
 */
export function readMsgpack(bytes: Uint8Array, limits: ReaderLimits, onExt: ExtHandler): unknown {
  const reader = new Reader(bytes, limits, onExt, 0);
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
    private readonly baseDepth: number,
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

  private collection(n: number, minBytesEach: number, what: string): void {
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
    this.collection(n, 1, 'array');
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }

  private map(n: number, depth: number): Record<string, unknown> {
    this.collection(n, 2, 'map');
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.value(depth + 1);
      let key: string;
      if (typeof k === 'string') key = k;
      else if (typeof k === 'number' || typeof k === 'bigint') key = String(k);
      else throw new ProtocolError(`map key of type ${k === null ? 'nil' : typeof k} is not supported`);
      const v = this.value(depth + 1);
      if (Object.hasOwn(out, key)) throw new ProtocolError(`duplicate map key ${JSON.stringify(key)}`);
      if (key === '__proto__') {
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      } else out[key] = v;
    }
    return out;
  }

  private ext(n: number, depth: number): unknown {
    this.need(1);
    const type = this.view.getInt8(this.pos);
    this.pos += 1;
    const body = this.bin(n);
    return this.onExt(type, body, (inner) => {
      const r = new Reader(inner, this.limits, this.onExt, depth + 1);
      const v = r.value(depth + 1);
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

  value(depth: number): unknown {
    if (depth + this.baseDepth > this.limits.maxDepth) {
      throw new LimitError(`nesting deeper than the limit of ${this.limits.maxDepth}`);
    }
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
        return this.ext(this.u8(), depth);
      case 0xc8:
        return this.ext(this.u16(), depth);
      case 0xc9:
        return this.ext(this.u32(), depth);
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
        return this.ext(1, depth);
      case 0xd5:
        return this.ext(2, depth);
      case 0xd6:
        return this.ext(4, depth);
      case 0xd7:
        return this.ext(8, depth);
      case 0xd8:
        return this.ext(16, depth);
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
