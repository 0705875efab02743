/**
 * LZ4 *block* format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md) in plain TypeScript: a greedy
 * single-hash compressor and a strict decompressor. No frame format, no size prefix: the uncompressed size travels
 * beside the block (in the codec's frame reference), exactly as `lz4.block.decompress(data, uncompressed_size=n)`
 * expects in Python or `LZ4_decompress_safe` in C.
 *
 * The decompressor is written for hostile input: it knows the output size in advance, checks every read and write
 * against the bounds before doing it, and rejects anything malformed with a {@link ProtocolError}.
 *
 * @module
 */
import { ProtocolError } from '../core/errors.js';

/** Shortest match LZ4 encodes. */
const MIN_MATCH = 4;
/** The last 5 bytes of a block are always literals. */
const LAST_LITERALS = 5;
/** The last match must start at least 12 bytes before the end of the block. */
const MF_LIMIT = 12;
/** Farthest back a match may point. */
const MAX_OFFSET = 65_535;
const HASH_LOG = 16;
/** After 2^SKIP_STRENGTH failed probes in a row the compressor starts stepping faster over incompressible data. */
const SKIP_STRENGTH = 6;

/**
 * Largest output LZ4 can produce for an input of `n` bytes (incompressible data plus the format's overhead).
 */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

/**
 * Largest input of a block of `n` compressed bytes: LZ4 never expands more than 255 times, so a longer declared size
 * is corrupt input and is rejected before anything is allocated.
 */
export function lz4MaxDecompressedLength(n: number): number {
  return n * 255;
}

function read32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/** Hash of the 5 bytes at `i` (4 are compared; the 5th makes the candidate more likely to start a long match). */
function hash(b: Uint8Array, i: number): number {
  return (Math.imul(read32(b, i), 2654435761) ^ Math.imul(b[i + 4]!, 0x85ebca77)) >>> (32 - HASH_LOG);
}

/** Bytes of the length extension of a 4-bit length field holding `n`. */
function extBytes(n: number): number {
  return n >= 15 ? Math.floor((n - 15) / 255) + 1 : 0;
}

class BlockWriter {
  pos = 0;
  constructor(readonly out: Uint8Array) {}

  /** Writes the length extension of a length whose 4-bit field overflowed (`n` is the full length). */
  private length(n: number): void {
    let rest = n - 15;
    while (rest >= 255) {
      this.out[this.pos++] = 255;
      rest -= 255;
    }
    this.out[this.pos++] = rest;
  }

  /** Appends one sequence; returns false when it does not fit in the output. */
  sequence(src: Uint8Array, anchor: number, literals: number, offset: number, matchLength: number): boolean {
    const matchCode = matchLength - MIN_MATCH;
    const size = 1 + extBytes(literals) + literals + (matchLength > 0 ? 2 + extBytes(matchCode) : 0);
    if (this.pos + size > this.out.length) return false;
    const out = this.out;
    out[this.pos++] = (Math.min(literals, 15) << 4) | (matchLength > 0 ? Math.min(matchCode, 15) : 0);
    if (literals >= 15) this.length(literals);
    if (literals < 32) for (let i = 0; i < literals; i++) out[this.pos++] = src[anchor + i]!;
    else {
      out.set(src.subarray(anchor, anchor + literals), this.pos);
      this.pos += literals;
    }
    if (matchLength === 0) return true;
    out[this.pos++] = offset & 0xff;
    out[this.pos++] = offset >>> 8;
    if (matchCode >= 15) this.length(matchCode);
    return true;
  }
}

/**
 * Compresses `src` into one LZ4 block. Returns `undefined` when the block would be longer than `maxOutput` bytes
 * (pass `src.length - 1` to keep only output that is smaller than the input).
 */
export function lz4Compress(src: Uint8Array, maxOutput: number = lz4CompressBound(src.length)): Uint8Array | undefined {
  const n = src.length;
  const cap = Math.max(0, Math.min(Math.floor(maxOutput), lz4CompressBound(n)));
  const w = new BlockWriter(new Uint8Array(cap));
  let anchor = 0;
  if (n >= MF_LIMIT + 1) {
    const table = new Int32Array(1 << HASH_LOG).fill(-1);
    const lastMatchStart = n - MF_LIMIT;
    const matchEnd = n - LAST_LITERALS;
    let ip = 0;
    let misses = 1 << SKIP_STRENGTH;
    while (ip <= lastMatchStart) {
      const seq = read32(src, ip);
      const h = hash(src, ip);
      let ref = table[h]!;
      table[h] = ip;
      if (ref < 0 || ip - ref > MAX_OFFSET || read32(src, ref) !== seq) {
        ip += misses++ >> SKIP_STRENGTH;
        // Pending literals alone no longer fit: give up early on incompressible input.
        if (w.pos + ip - anchor > cap) return undefined;
        continue;
      }
      misses = 1 << SKIP_STRENGTH;
      // Extend backwards over literals that also match, then forwards up to the end-of-block rule.
      while (ip > anchor && ref > 0 && src[ip - 1] === src[ref - 1]) {
        ip--;
        ref--;
      }
      let len = MIN_MATCH;
      while (ip + len < matchEnd && src[ip + len] === src[ref + len]) len++;
      if (!w.sequence(src, anchor, ip - anchor, ip - ref, len)) return undefined;
      ip += len;
      anchor = ip;
      // Index a position inside the match so that the next probe has a recent candidate.
      if (ip - 2 <= lastMatchStart) table[hash(src, ip - 2)] = ip - 2;
    }
  }
  if (!w.sequence(src, anchor, n - anchor, 0, 0)) return undefined;
  return w.out.subarray(0, w.pos);
}

function corrupt(what: string): ProtocolError {
  return new ProtocolError(`corrupt lz4 block: ${what}`);
}

/** Reads the extension bytes of a length field that held 15; returns the new input position and the length. */
function readLength(src: Uint8Array, ip: number, base: number): [number, number] {
  let n = base;
  for (;;) {
    if (ip >= src.length) throw corrupt('truncated length');
    const b = src[ip++]!;
    n += b;
    if (b !== 255) return [ip, n];
  }
}

/**
 * Decompresses one LZ4 block whose uncompressed size is `rawLength` bytes.
 *
 * @throws {@link ProtocolError} when the block is malformed, reads or writes out of bounds, refers before the start
 * of the output, or does not decode to exactly `rawLength` bytes; also when `rawLength` exceeds what `src` could
 * possibly hold (checked before the output is allocated).
 */
export function lz4Decompress(src: Uint8Array, rawLength: number): Uint8Array {
  if (!Number.isSafeInteger(rawLength) || rawLength < 0) throw corrupt(`invalid size ${rawLength}`);
  if (src.length === 0) throw corrupt('empty block');
  if (rawLength > lz4MaxDecompressedLength(src.length)) {
    throw corrupt(`${src.length} bytes cannot decode to ${rawLength} bytes`);
  }
  const out = new Uint8Array(rawLength);
  const end = src.length;
  let ip = 0;
  let op = 0;
  for (;;) {
    if (ip >= end) throw corrupt('truncated sequence');
    const token = src[ip++]!;
    let literals = token >>> 4;
    if (literals === 15) [ip, literals] = readLength(src, ip, 15);
    if (literals > end - ip) throw corrupt('literals run past the end of the block');
    if (literals > rawLength - op) throw corrupt('literals run past the declared size');
    if (literals < 32) for (let i = 0; i < literals; i++) out[op++] = src[ip++]!;
    else {
      out.set(src.subarray(ip, ip + literals), op);
      ip += literals;
      op += literals;
    }
    if (ip === end) break;
    if (end - ip < 2) throw corrupt('truncated match offset');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw corrupt(`match offset ${offset} at output position ${op}`);
    let length = token & 15;
    if (length === 15) [ip, length] = readLength(src, ip, 15);
    length += MIN_MATCH;
    if (length > rawLength - op) throw corrupt('match runs past the declared size');
    const from = op - offset;
    if (length <= 32) for (let i = 0; i < length; i++) out[op + i] = out[from + i]!;
    else if (offset >= length) out.copyWithin(op, from, from + length);
    else {
      // Overlapping match: a repeating pattern of period `offset`; copy it in doubling chunks that never overlap.
      let done = 0;
      while (done < length) {
        const chunk = Math.min(length - done, offset + done);
        out.copyWithin(op + done, from, from + chunk);
        done += chunk;
      }
    }
    op += length;
  }
  if (op !== rawLength) throw corrupt(`decodes to ${op} bytes, ${rawLength} declared`);
  return out;
}
