/**
 * The WebSocket framing of edgeml messages (docs/protocol.md, "WebSocket mapping"): one binary WebSocket message per
 * edgeml message, with a small prefix giving the kind, the frame count and each frame's length, and every frame
 * starting at an offset that is a multiple of 8 from the start of the message, so a receiver (a browser with its
 * `ArrayBuffer`) views a tensor in place. Pure functions: no sockets, no timers, no Node built-ins.
 *
 * @module
 */
import { ProtocolError } from '../../core/errors.js';
import type { Frame } from '../types.js';

/** What a WebSocket message carries. */
export const WsKind = {
  /** A request (client to server) or a reply (server to client): the edgeml frames. */
  message: 1,
  /** A published message (server to client): frame 0 the topic in UTF-8, then the edgeml frames. */
  publish: 2,
  /** Subscribe to a topic (client to server): one frame, the topic in UTF-8. */
  subscribe: 3,
  /** Unsubscribe from a topic (client to server): one frame, the topic in UTF-8. */
  unsubscribe: 4,
  /** Heartbeat request (either side): no frames; the other side answers {@link WsKind.pong}. */
  ping: 5,
  /** Heartbeat answer: no frames. */
  pong: 6,
  /** The server accepted the connection (server to client, first message): no frames. Until it arrives, a client
   * sends nothing but control messages. */
  ready: 7,
} as const;

/** A kind byte of {@link WsKind}. */
export type WsKindCode = (typeof WsKind)[keyof typeof WsKind];

/** Version byte of the framing. */
export const WS_FRAMING_VERSION = 1;

/** Alignment of each frame's start within the message, in bytes. */
export const WS_FRAME_ALIGN = 8;

/** The subprotocol every edgeml WebSocket peer offers and every server selects. */
export const WS_SUBPROTOCOL = 'edgeml.v1';

/** Prefix of the subprotocol entry that carries a token (`edgeml.token.<base64url of the token's UTF-8>`). */
export const WS_TOKEN_PREFIX = 'edgeml.token.';

/** Close code a server uses for a peer whose token it refused. */
export const WS_CLOSE_UNAUTHORIZED = 4401;
/** Close code a server uses for a peer whose `Origin` it does not allow. */
export const WS_CLOSE_FORBIDDEN_ORIGIN = 4403;
/** Close code for a peer that sent a message that is not valid framing (RFC 6455: protocol error). */
export const WS_CLOSE_PROTOCOL_ERROR = 1002;
/** Close code for a message over the size limit (RFC 6455: message too big). */
export const WS_CLOSE_TOO_BIG = 1009;
/** Close code when the server has as many clients as it takes (RFC 6455: try again later). */
export const WS_CLOSE_TRY_AGAIN = 1013;

/** One decoded WebSocket message. `frames` are views into the received bytes (no copies). */
export interface WsMessage {
  kind: WsKindCode;
  frames: Frame[];
}

const KINDS = new Set<number>(Object.values(WsKind));

function align(n: number): number {
  return (n + WS_FRAME_ALIGN - 1) & ~(WS_FRAME_ALIGN - 1);
}

/** Where each frame starts in a message of `lengths`, and the message's total length. */
function layout(lengths: readonly number[]): { offsets: number[]; total: number } {
  let pos = align(8 + 4 * lengths.length);
  const offsets: number[] = [];
  for (let i = 0; i < lengths.length; i++) {
    if (i > 0) pos = align(pos);
    offsets.push(pos);
    pos += lengths[i]!;
  }
  return { offsets, total: lengths.length === 0 ? 8 : pos };
}

/** The prefix of a message (kind, version, frame count, lengths, zero padding up to the first frame). */
function prefix(kind: WsKindCode, lengths: readonly number[]): Uint8Array {
  const size = lengths.length === 0 ? 8 : align(8 + 4 * lengths.length);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = kind;
  out[1] = WS_FRAMING_VERSION;
  view.setUint32(4, lengths.length, true);
  for (let i = 0; i < lengths.length; i++) view.setUint32(8 + 4 * i, lengths[i]!, true);
  return out;
}

/** Encodes `frames` as one WebSocket message of `kind`, in one new buffer. */
export function encodeWsMessage(kind: WsKindCode, frames: readonly Frame[]): Uint8Array {
  const lengths = frames.map((f) => f.byteLength);
  const { offsets, total } = layout(lengths);
  const out = new Uint8Array(total);
  out.set(prefix(kind, lengths), 0);
  for (let i = 0; i < frames.length; i++) out.set(frames[i]!, offsets[i]!);
  return out;
}

/**
 * The same message as {@link encodeWsMessage}, as the pieces to send one after the other (the prefix, then each
 * frame with the zero padding before it): a sender that can send a message in fragments sends the application's
 * frames without copying them.
 */
export function wsMessageParts(kind: WsKindCode, frames: readonly Frame[]): Uint8Array[] {
  const lengths = frames.map((f) => f.byteLength);
  const { offsets } = layout(lengths);
  const parts: Uint8Array[] = [prefix(kind, lengths)];
  let pos = parts[0]!.byteLength;
  for (let i = 0; i < frames.length; i++) {
    const pad = offsets[i]! - pos;
    if (pad > 0) parts.push(new Uint8Array(pad));
    parts.push(frames[i]!);
    pos = offsets[i]! + lengths[i]!;
  }
  return parts;
}

/** The total length of the message {@link encodeWsMessage} makes of frames of these lengths. */
export function wsMessageLength(lengths: readonly number[]): number {
  return layout(lengths).total;
}

/**
 * Decodes one WebSocket message. Checks, before reading any frame, that the frame count is at most `maxFrames` and
 * that the prefix and the lengths match the message's size exactly.
 * @throws {@link ProtocolError} for anything that is not a well-formed message
 */
export function decodeWsMessage(data: Uint8Array, maxFrames: number): WsMessage {
  const n = data.byteLength;
  if (n < 8) throw new ProtocolError(`WebSocket message of ${n} bytes is shorter than its 8-byte prefix`);
  const kind = data[0]!;
  if (!KINDS.has(kind)) throw new ProtocolError(`unknown WebSocket message kind ${kind}`);
  if (data[1] !== WS_FRAMING_VERSION) throw new ProtocolError(`unsupported WebSocket framing version ${data[1]}`);
  const view = new DataView(data.buffer, data.byteOffset, n);
  const count = view.getUint32(4, true);
  if (count > maxFrames) throw new ProtocolError(`WebSocket message of ${count} frames exceeds ${maxFrames}`);
  if (8 + 4 * count > n) throw new ProtocolError('WebSocket message truncated in its frame lengths');
  const lengths: number[] = [];
  for (let i = 0; i < count; i++) lengths.push(view.getUint32(8 + 4 * i, true));
  const { offsets, total } = layout(lengths);
  if (total !== n) {
    throw new ProtocolError(`WebSocket message is ${n} bytes, its prefix describes ${total}`);
  }
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) frames.push(data.subarray(offsets[i]!, offsets[i]! + lengths[i]!));
  const expected =
    kind === WsKind.subscribe || kind === WsKind.unsubscribe
      ? count === 1
      : kind === WsKind.ping || kind === WsKind.pong || kind === WsKind.ready
        ? count === 0
        : count >= (kind === WsKind.publish ? 2 : 1);
  if (!expected) throw new ProtocolError(`WebSocket message of kind ${kind} cannot have ${count} frames`);
  return { kind: kind as WsKindCode, frames };
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A topic as a frame. */
export function topicFrame(topic: string): Frame {
  return utf8.encode(topic);
}

/**
 * The topic of a frame.
 * @throws {@link ProtocolError} for invalid UTF-8
 */
export function frameTopic(frame: Frame): string {
  try {
    return fromUtf8.decode(frame);
  } catch {
    throw new ProtocolError('topic is not valid UTF-8');
  }
}

/** The subprotocol entry carrying `token` (base64url of its UTF-8, no padding: valid in the header). */
export function tokenSubprotocol(token: string): string {
  const bytes = utf8.encode(token);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return WS_TOKEN_PREFIX + btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The token of a subprotocol entry made by {@link tokenSubprotocol}, or undefined when it is not one. */
export function subprotocolToken(entry: string): string | undefined {
  if (!entry.startsWith(WS_TOKEN_PREFIX)) return undefined;
  const b64 = entry.slice(WS_TOKEN_PREFIX.length).replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*$/.test(b64)) return undefined;
  try {
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return fromUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
