/**
 * A small MessagePack writer: standard msgpack only, every value in its shortest form, so that the same value always
 * gives the same bytes (docs/protocol.md, "Messages and frames").
 *
 * @module
 */
import { ProtocolError } from './errors.js';

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
