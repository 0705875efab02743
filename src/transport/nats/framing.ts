/**
 * How edgeml messages travel as NATS messages (docs/protocol.md, "NATS mapping"): the body of every NATS message
 * starts with a kind byte; a whole message carries its frame count and lengths, then the frames; a message larger
 * than one NATS message is split into chunks of its whole-message body. Pure functions, no I/O. All integers are
 * unsigned 32-bit little-endian.
 *
 * @module
 */
import type { Frame } from '../../core/types.js';

/** Kind byte of a NATS message body. */
export const KIND = {
  /** A whole edgeml message: `u32 n, u32 len[n], frame bytes[n]`. */
  message: 0x01,
  /** One chunk of a whole-message body: `id[8], u32 index, u32 count, u32 total, bytes`. */
  chunk: 0x02,
  /** Server to client: send the chunks after the first of message `id[8]` to the subject that follows (UTF-8). */
  go: 0x03,
  /** Client to service: is any server there? Answered with {@link KIND.ack}. */
  probe: 0x04,
  /** Answer to a probe or to a subscription announcement. */
  ack: 0x05,
  /** Subscriber to publishers: subscribed to the topic that follows (UTF-8); reply subject: its inbox. */
  subscribe: 0x06,
} as const;

/** Bytes before the data of a chunk. */
export const CHUNK_HEADER_BYTES = 21;
/** Length of a message id. */
export const MESSAGE_ID_BYTES = 8;

/** Length of the whole-message body of `frames`. */
export function messageBodyLength(frames: readonly Frame[]): number {
  let n = 5 + 4 * frames.length;
  for (const f of frames) n += f.byteLength;
  return n;
}

/**
 * The whole-message body of `frames`. Its bytes are not zeroed first (every one is written; a large body is not
 * filled twice); a small one is a view into Node's shared pool.
 */
export function encodeMessage(frames: readonly Frame[]): Uint8Array {
  const out = Buffer.allocUnsafe(messageBodyLength(frames));
  out[0] = KIND.message;
  out.writeUInt32LE(frames.length, 1);
  let at = 5 + 4 * frames.length;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as Frame;
    out.writeUInt32LE(f.byteLength, 5 + 4 * i);
    out.set(f, at);
    at += f.byteLength;
  }
  return out;
}

/** Why a body could not be read. */
export class FramingError extends Error {}

/**
 * The frames of a whole-message body, as views on it (no copy).
 * @throws {@link FramingError} for a body that is not exactly such a message, or has more than `maxFrames` frames
 */
export function decodeMessage(body: Uint8Array, maxFrames: number): Frame[] {
  if (body.length < 5 || body[0] !== KIND.message) throw new FramingError('not a message');
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const n = view.getUint32(1, true);
  if (n === 0 || n > maxFrames) throw new FramingError(`frame count ${n} outside 1..${maxFrames}`);
  let at = 5 + 4 * n;
  if (at > body.length) throw new FramingError('truncated frame lengths');
  const frames: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const len = view.getUint32(5 + 4 * i, true);
    if (at + len > body.length) throw new FramingError('frame runs past the end');
    frames.push(body.subarray(at, at + len));
    at += len;
  }
  if (at !== body.length) throw new FramingError('bytes after the last frame');
  return frames;
}

/** One chunk as read from a NATS message. */
export interface Chunk {
  /** Message id, as 16 hex digits. */
  id: string;
  index: number;
  count: number;
  /** Length of the whole-message body. */
  total: number;
  data: Uint8Array;
}

/** How many chunks of at most `maxBody` bytes (header included) a body of `length` bytes takes. */
export function chunkCount(length: number, maxBody: number): number {
  return Math.ceil(length / (maxBody - CHUNK_HEADER_BYTES));
}

/**
 * Chunk `index` of `count` of a whole-message body, each of at most `maxBody` bytes (header included).
 * @param id the message id ({@link MESSAGE_ID_BYTES} bytes)
 */
export function encodeChunk(body: Uint8Array, id: Uint8Array, index: number, maxBody: number): Uint8Array {
  const size = maxBody - CHUNK_HEADER_BYTES;
  const count = chunkCount(body.length, maxBody);
  const part = body.subarray(index * size, Math.min(body.length, (index + 1) * size));
  // Not zeroed first, like a whole message.
  const chunk = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + part.length);
  chunk[0] = KIND.chunk;
  chunk.fill(0, 1, 1 + MESSAGE_ID_BYTES);
  chunk.set(id.subarray(0, MESSAGE_ID_BYTES), 1);
  chunk.writeUInt32LE(index, 9);
  chunk.writeUInt32LE(count, 13);
  chunk.writeUInt32LE(body.length, 17);
  chunk.set(part, CHUNK_HEADER_BYTES);
  return chunk;
}

/** @throws {@link FramingError} for a body that is not a well-formed chunk */
export function decodeChunk(body: Uint8Array): Chunk {
  if (body.length < CHUNK_HEADER_BYTES || body[0] !== KIND.chunk) throw new FramingError('not a chunk');
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const index = view.getUint32(9, true);
  const count = view.getUint32(13, true);
  const total = view.getUint32(17, true);
  if (count < 2 || index >= count || total < count) throw new FramingError('bad chunk numbering');
  const id = Buffer.from(body.buffer, body.byteOffset + 1, MESSAGE_ID_BYTES).toString('hex');
  return { id, index, count, total, data: body.subarray(CHUNK_HEADER_BYTES) };
}

/** A body of kind `kind` holding `text` (UTF-8) after an optional message id. */
export function encodeControl(kind: number, text = '', id?: Uint8Array): Uint8Array {
  const t = Buffer.from(text, 'utf8');
  const idLen = id === undefined ? 0 : MESSAGE_ID_BYTES;
  const out = new Uint8Array(1 + idLen + t.length);
  out[0] = kind;
  if (id !== undefined) out.set(id.subarray(0, MESSAGE_ID_BYTES), 1);
  out.set(t, 1 + idLen);
  return out;
}

/** The message id (hex) and subject of a {@link KIND.go} body. @throws {@link FramingError} */
export function decodeGo(body: Uint8Array): { id: string; subject: string } {
  if (body.length <= 1 + MESSAGE_ID_BYTES || body[0] !== KIND.go) throw new FramingError('not a go');
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return { id: b.toString('hex', 1, 1 + MESSAGE_ID_BYTES), subject: b.toString('utf8', 1 + MESSAGE_ID_BYTES) };
}

/** The topic of a {@link KIND.subscribe} body, or undefined. */
export function decodeSubscribe(body: Uint8Array): string | undefined {
  if (body.length < 2 || body[0] !== KIND.subscribe || body.length > 1 + 4096) return undefined;
  return Buffer.from(body.buffer, body.byteOffset + 1, body.byteLength - 1).toString('utf8');
}
