/**
 * A small MessagePack writer: standard msgpack only, every value in its shortest form, so that the same value always
 * gives the same bytes (docs/protocol.md, "Messages and frames").
 *
 * @module
 */
import { ProtocolError } from '../core/errors.js';

/** Node's `Buffer` where it exists (its `write` is the fastest UTF-8 encoder there); plain bytes elsewhere. */
const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;
const textEncoder = new TextEncoder();

function allocBytes(n: number): Uint8Array {
  return NodeBuffer ? NodeBuffer.allocUnsafe(n) : new Uint8Array(n);
}

/** Writes `s` as UTF-8 at `at` (room for it ensured); returns the bytes written. */
function writeUtf8(b: Uint8Array, s: string, at: number): number {
  if (NodeBuffer && b instanceof NodeBuffer) return b.write(s, at, 'utf8');
  return textEncoder.encodeInto(s, b.subarray(at)).written;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** Growable output buffer with msgpack primitive writers. */
export class MsgpackWriter {
  private buf: Uint8Array;
  private view: DataView;
  /** Bytes written so far. */
  pos = 0;

  constructor(initialSize = 256) {
    this.buf = allocBytes(initialSize);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = allocBytes(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** The bytes written, as a view on the internal buffer. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** The bytes written, as a new buffer of their exact size (the writer can then be {@link reset} and reused). */
  copy(): Uint8Array {
    const out = allocBytes(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }

  /** Forgets what was written, keeping the buffer. */
  reset(): void {
    this.pos = 0;
  }

  /** Size of the internal buffer. */
  get capacity(): number {
    return this.buf.length;
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
    const len = s.length;
    const max = len * 3;
    this.ensure(max + 5);
    if (len < 32) {
      // Short strings (keys, dtypes, names) are nearly always ASCII: a char-code loop is several times faster than
      // Buffer.write on a few characters, and gives the same bytes.
      const b = this.buf;
      const p = this.pos;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p + 1 + i] = c;
      }
      if (i === len) {
        b[p] = 0xa0 | len;
        this.pos = p + 1 + len;
        return;
      }
      if (max < 32) {
        const n = writeUtf8(b, s, p + 1);
        b[p] = 0xa0 | n;
        this.pos = p + 1 + n;
        return;
      }
    }
    const start = this.pos + 5;
    const n = writeUtf8(this.buf, s, start);
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
    const mark = this.extStart();
    this.ensure(body.byteLength);
    this.buf.set(body, this.pos);
    this.pos += body.byteLength;
    this.extEnd(type, mark);
  }

  /**
   * Starts an ext value whose body is written next, in place, by the other methods; returns the mark to give
   * {@link extEnd}. Same bytes as {@link ext} with that body, without a buffer for the body.
   */
  extStart(): number {
    this.ensure(3);
    const mark = this.pos;
    this.pos += 3;
    return mark;
  }

  /** Ends the ext value started at `mark`: writes its header in the shortest form, moving the body if needed. */
  extEnd(type: number, mark: number): void {
    const bodyStart = mark + 3;
    const n = this.pos - bodyStart;
    const fix = n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0;
    let hdr: number;
    if (fix !== 0) hdr = 2;
    else if (n < 0x100) hdr = 3;
    else if (n < 0x10000) hdr = 4;
    else hdr = 6;
    if (hdr > 3) this.ensure(hdr - 3);
    const b = this.buf;
    if (hdr !== 3) b.copyWithin(mark + hdr, bodyStart, bodyStart + n);
    if (fix !== 0) {
      b[mark] = fix;
      b[mark + 1] = type;
    } else if (hdr === 3) {
      b[mark] = 0xc7;
      b[mark + 1] = n;
      b[mark + 2] = type;
    } else if (hdr === 4) {
      b[mark] = 0xc8;
      this.view.setUint16(mark + 1, n);
      b[mark + 3] = type;
    } else {
      b[mark] = 0xc9;
      this.view.setUint32(mark + 1, n);
      b[mark + 5] = type;
    }
    this.pos = mark + hdr + n;
  }
}

/** Initial size of the header writer. */
const WRITER_INITIAL_BYTES = 1024;
/** A header writer that grew past this size (a header with large inline values) is not kept for reuse. */
const WRITER_KEEP_MAX_BYTES = 64 * 1024;
/**
 * The header writer, reused from one message to the next: headers are written into it and copied out at their exact
 * size, so encoding a message allocates one small buffer for its header. Taken while in use, so an encode started
 * during another (a getter that encodes) gets a writer of its own.
 */
let spareWriter: MsgpackWriter | undefined;

/** Takes the spare writer (reset), or a new one when it is in use. Give it back with {@link releaseWriter}. */
export function acquireWriter(): MsgpackWriter {
  const w = spareWriter;
  if (w === undefined) return new MsgpackWriter(WRITER_INITIAL_BYTES);
  spareWriter = undefined;
  w.reset();
  return w;
}

/** Gives back a writer from {@link acquireWriter}, keeping it for reuse unless it grew large. */
export function releaseWriter(w: MsgpackWriter): void {
  if (w.capacity <= WRITER_KEEP_MAX_BYTES) spareWriter = w;
}
