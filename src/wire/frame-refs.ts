/**
 * Frame references: how a header points at its data frames (docs/protocol.md, "Data frames and ext types"). A
 * reference is a frame index, or `[index, "lz4", rawByteLength]` for a compressed frame. The decoder side checks
 * that each data frame is referenced exactly once, and checks a compressed frame's declared size against the message
 * limit before anything is allocated for it.
 *
 * @module
 */
import { LimitError, ProtocolError } from '../core/errors.js';
import { peerText } from '../core/peer-text.js';
import { lz4Decompress } from './lz4.js';
import type { MsgpackWriter } from './msgpack-writer.js';

/** A frame index, or `[index, codec, rawByteLength]` for a compressed frame. */
export type FrameRef = number | [number, 'lz4', number];

/** Writes a frame reference into an ext body. */
export function writeRef(w: MsgpackWriter, ref: FrameRef): void {
  if (typeof ref === 'number') return w.int(ref);
  w.arrayHeader(3);
  w.int(ref[0]);
  w.string(ref[1]);
  w.int(ref[2]);
}

/** Resolves frame references while decoding: each data frame exactly once, compressed ones within the limits. */
export class FrameTable {
  private readonly used: Uint8Array;

  constructor(
    private readonly frames: readonly Uint8Array[],
    /** Message bytes so far, compressed frames counted at their declared decompressed size. */
    private total: number,
    private readonly maxBytes: number,
  ) {
    this.used = new Uint8Array(frames.length);
  }

  take(ref: unknown): Uint8Array {
    let index = ref;
    let raw: number | undefined;
    if (Array.isArray(ref)) {
      if (ref.length !== 3) throw new ProtocolError('a frame reference is an index or [index, codec, rawByteLength]');
      index = ref[0];
      if (ref[1] !== 'lz4') throw new ProtocolError(`unknown compression codec ${peerText(ref[1])}`);
      const n: unknown = ref[2];
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
        throw new ProtocolError(`invalid raw byte length ${peerText(n)} of a compressed frame`);
      }
      raw = n;
    }
    const count = this.frames.length;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 1 || index >= count) {
      throw new ProtocolError(`invalid frame reference ${peerText(index)} (message has ${count} frames)`);
    }
    if (this.used[index] === 1) throw new ProtocolError(`frame ${index} is referenced twice`);
    this.used[index] = 1;
    const frame = this.frames[index]!;
    if (raw === undefined) {
      return frame.constructor === Uint8Array
        ? frame
        : new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
    }
    this.total += raw - frame.byteLength;
    if (this.total > this.maxBytes) {
      throw new LimitError(
        `frame ${index} decompresses to ${raw} bytes: the message would exceed the limit of ${this.maxBytes} bytes`,
      );
    }
    return lz4Decompress(frame, raw);
  }

  checkAllUsed(): void {
    for (let i = 1; i < this.frames.length; i++) {
      if (this.used[i] !== 1) throw new ProtocolError(`frame ${i} is not referenced by the header`);
    }
  }
}
