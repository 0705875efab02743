/**
 * Writes `ws-vectors.json`: the WebSocket framing of edgeml messages (docs/protocol.md, "WebSocket mapping"), as
 * messages with their kind and frames, and messages a receiver must reject. Run with `npm run vectors`; the output is
 * deterministic, and test/vectors/ws-vectors.test.ts checks the committed file matches this generator.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_MAX_FRAMES } from '../../src/core/defaults.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { encodeWsMessage, topicFrame, WsKind, type WsKindCode } from '../../src/transport/ws/framing.js';
import type { Frame } from '../../src/wire/codec.js';
import { encodePublish, encodeReply, encodeRequest } from '../../src/wire/envelopes.js';

/** A WebSocket message and what it carries. */
export interface WsVector {
  name: string;
  description: string;
  /** The kind's name (a key of the kinds table in docs/protocol.md). */
  kind: string;
  /** The frames it carries, hex (for `publish`, the topic first). */
  frames: string[];
  /** The whole binary WebSocket message, hex. */
  message: string;
}

/** A WebSocket message a receiver must reject. */
export interface WsInvalidVector {
  name: string;
  description: string;
  message: string;
}

/** The file. */
export interface WsVectors {
  /** Frame count limit the invalid vectors assume (the codec's default plus one, for a publish's topic). */
  maxFrames: number;
  valid: WsVector[];
  invalid: WsInvalidVector[];
}

const hex = (f: Uint8Array): string => Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('hex');
const KIND_NAMES = new Map<number, string>(Object.entries(WsKind).map(([k, v]) => [v, k]));

function vector(name: string, description: string, kind: WsKindCode, frames: Frame[]): WsVector {
  return {
    name,
    description,
    kind: KIND_NAMES.get(kind) ?? String(kind),
    frames: frames.map(hex),
    message: hex(encodeWsMessage(kind, frames)),
  };
}

/** The valid vectors. */
export function buildWsVectors(): WsVector[] {
  const tensor = new Tensor('float32', Float32Array.of(1, 2, 3), [3]);
  const seven = Uint8Array.of(1, 2, 3, 4, 5, 6, 7);
  return [
    vector('ready', 'the server accepted the connection: no frames, the 8-byte prefix alone', WsKind.ready, []),
    vector('ping', 'a heartbeat request', WsKind.ping, []),
    vector('pong', 'a heartbeat answer', WsKind.pong, []),
    vector('subscribe', 'subscribe to topic "obs": one frame, the topic in UTF-8', WsKind.subscribe, [
      topicFrame('obs'),
    ]),
    vector('unsubscribe', 'unsubscribe from topic "obs"', WsKind.unsubscribe, [topicFrame('obs')]),
    vector(
      'request-ping',
      'a request of one frame (the header of a ping request): prefix of 12 bytes padded to 16',
      WsKind.message,
      encodeRequest(1, 'ping', undefined, null),
    ),
    vector(
      'reply-tensor',
      'a reply with a float32 tensor: the data frame starts at a multiple of 8 after zero padding',
      WsKind.message,
      encodeReply(7, tensor),
    ),
    vector(
      'publish-weights',
      'a published message: frame 0 the topic, then the header and a data frame',
      WsKind.publish,
      [topicFrame('weights'), ...encodePublish('weights', 3, '0011223344556677', { w: tensor })],
    ),
    vector('frames-padding', 'three raw frames of 7, 0 and 7 bytes: each starts at a multiple of 8', WsKind.message, [
      seven,
      new Uint8Array(0),
      seven,
    ]),
  ];
}

function prefix(kind: number, version: number, lengths: number[], count = lengths.length): Uint8Array {
  const out = new Uint8Array(8 + 4 * lengths.length);
  const view = new DataView(out.buffer);
  out[0] = kind;
  out[1] = version;
  view.setUint32(4, count, true);
  for (const [i, n] of lengths.entries()) view.setUint32(8 + 4 * i, n, true);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The invalid vectors. */
export function buildWsInvalid(): WsInvalidVector[] {
  const ok = encodeWsMessage(WsKind.message, [Uint8Array.of(0xc0)]);
  const bad = (name: string, description: string, message: Uint8Array): WsInvalidVector => ({
    name,
    description,
    message: hex(message),
  });
  return [
    bad('short', 'fewer than the 8 bytes of the prefix', ok.subarray(0, 4)),
    bad('unknown-kind', 'kind 9 is not defined', concat(prefix(9, 1, []))),
    bad('version', 'framing version 2', concat(prefix(1, 2, [1]), new Uint8Array(4), Uint8Array.of(0xc0))),
    bad(
      'too-many-frames',
      `a frame count over the limit (${DEFAULT_MAX_FRAMES + 2}), rejected before reading the lengths`,
      prefix(1, 1, [], DEFAULT_MAX_FRAMES + 2),
    ),
    bad('truncated-lengths', 'a frame count of 3 with one length present', prefix(1, 1, [1], 3)),
    bad('truncated-frame', 'the last frame is shorter than its length', ok.subarray(0, ok.byteLength - 1)),
    bad('trailing-bytes', 'bytes after the last frame', concat(ok, Uint8Array.of(0))),
    bad(
      'subscribe-two-frames',
      'subscribe carries exactly one frame',
      encodeWsMessage(WsKind.subscribe, [topicFrame('a'), topicFrame('b')]),
    ),
    bad('ping-with-frame', 'ping carries no frames', encodeWsMessage(WsKind.ping, [Uint8Array.of(0)])),
    bad(
      'publish-topic-only',
      'publish carries the topic and at least a header',
      encodeWsMessage(WsKind.publish, [topicFrame('obs')]),
    ),
    bad('message-no-frames', 'a request or reply carries at least a header', encodeWsMessage(WsKind.message, [])),
  ];
}

/** The whole file. */
export function buildWsFile(): WsVectors {
  return { maxFrames: DEFAULT_MAX_FRAMES + 1, valid: buildWsVectors(), invalid: buildWsInvalid() };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = dirname(fileURLToPath(import.meta.url));
  writeFileSync(join(dir, 'ws-vectors.json'), `${JSON.stringify(buildWsFile(), null, 1)}\n`);
}
