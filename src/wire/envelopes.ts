/**
 * The versioned envelopes of the wire protocol (docs/protocol.md): request, reply, error and publish, and the mapping
 * of errors to and from the wire. Every envelope is the msgpack header of a codec message (frame 0), a map with short
 * keys; the payload sits under `p` and may reference data frames.
 *
 * @module
 */

import { PROTOCOL_VERSION } from '../core/defaults.js';
import {
  AbortError,
  AuthenticationError,
  ClosedError,
  ConfigMismatchError,
  EdgeMLError,
  InvalidArgumentError,
  LimitError,
  NotFoundError,
  ProtocolError,
  RemoteError,
  TimeoutError,
} from '../core/errors.js';
import { PEER_TEXT_MAX, peerText, truncateText } from '../core/peer-text.js';
import { type DecodeLimits, decodeMessage, type EncodeOptions, encodeEnvelope, type Frame } from './codec.js';
import { readMsgpack } from './msgpack-reader.js';

/** A request: call `method` (optionally on `name`) with `payload`. */
export interface RequestEnvelope {
  kind: 'req';
  id: number;
  method: string;
  name: string | undefined;
  payload: unknown;
  /** The caller's time left for this call, in ms (`d`), when it sent one. */
  deadlineMs: number | undefined;
  /** The caller's idempotency key (`u`): a retry with the same key is answered once (1..128 characters). */
  key: string | undefined;
}

/** Longest idempotency key (`u`) a request may carry. */
export const MAX_IDEMPOTENCY_KEY = 128;
/** A successful reply to request `id`. */
export interface ReplyEnvelope {
  kind: 'rep';
  id: number;
  payload: unknown;
}
/** A failed reply to request `id`. */
export interface ErrorEnvelope {
  kind: 'err';
  id: number;
  error: WireError;
}
/** A published message: `seq` counts up per topic within one publisher `epoch`. */
export interface PublishEnvelope {
  kind: 'pub';
  topic: string;
  seq: number;
  epoch: string;
  payload: unknown;
}
/** Any envelope. */
export type Envelope = RequestEnvelope | ReplyEnvelope | ErrorEnvelope | PublishEnvelope;

/** An error as it travels: `name` and `message` always; `code` when it is an edgeml code; extra `fields`. */
export interface WireError {
  name: string;
  code: string;
  message: string;
  /** For `EDGEML_REMOTE`: the remote error's own code, if it had a string one. */
  remoteCode?: string;
  /** For `EDGEML_CONFIG_MISMATCH`: the differing fields; for `EDGEML_INVALID_ARGUMENT`: the invalid field. */
  fields?: string[];
}

/** Encodes a request envelope. */
export function encodeRequest(
  id: number,
  method: string,
  name: string | undefined,
  payload: unknown,
  options?: EncodeOptions,
  deadlineMs?: number,
  key?: string,
): Frame[] {
  const header: Record<string, unknown> = { v: PROTOCOL_VERSION, k: 'req', id, m: method };
  if (name !== undefined) header.n = name;
  if (deadlineMs !== undefined) header.d = Math.max(1, Math.ceil(deadlineMs));
  if (key !== undefined) header.u = key;
  header.p = payload;
  return encodeEnvelope(header, options);
}

/** Encodes a successful reply. */
export function encodeReply(id: number, payload: unknown, options?: EncodeOptions): Frame[] {
  return encodeEnvelope({ v: PROTOCOL_VERSION, k: 'rep', id, p: payload }, options);
}

/** Encodes an error reply. */
export function encodeError(id: number, error: unknown): Frame[] {
  return encodeEnvelope({ v: PROTOCOL_VERSION, k: 'err', id, e: errorToWire(error) });
}

/** Encodes a published message. */
export function encodePublish(
  topic: string,
  seq: number,
  epoch: string,
  payload: unknown,
  options?: EncodeOptions,
): Frame[] {
  return encodeEnvelope({ v: PROTOCOL_VERSION, k: 'pub', t: topic, s: seq, ep: epoch, p: payload }, options);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function requireId(h: Record<string, unknown>): number {
  const id = h.id;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
    throw new ProtocolError('envelope needs an integer id');
  return id;
}

function requireString(h: Record<string, unknown>, key: string, what: string): string {
  const v = h[key];
  if (typeof v !== 'string') throw new ProtocolError(`envelope needs ${what} (string "${key}")`);
  return v;
}

/**
 * Decodes and validates an envelope.
 * @throws {@link ProtocolError} for malformed or unexpected input, {@link LimitError} for input over a limit.
 */
export function decodeEnvelope(frames: readonly Frame[], limits?: DecodeLimits): Envelope {
  const h = decodeMessage(frames, limits);
  if (!isRecord(h)) throw new ProtocolError('header is not a map');
  if (h.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(`unsupported protocol version ${peerText(h.v)} (this peer speaks ${PROTOCOL_VERSION})`);
  }
  switch (h.k) {
    case 'req': {
      const name = h.n;
      if (name !== undefined && typeof name !== 'string') throw new ProtocolError('request name "n" must be a string');
      const d = h.d;
      const deadlineMs = typeof d === 'number' && d > 0 && Number.isFinite(d) ? d : undefined;
      const u = h.u;
      if (u !== undefined && (typeof u !== 'string' || u.length === 0 || u.length > MAX_IDEMPOTENCY_KEY)) {
        throw new ProtocolError(`request key "u" must be a string of 1..${MAX_IDEMPOTENCY_KEY} characters`);
      }
      return {
        kind: 'req',
        id: requireId(h),
        method: requireString(h, 'm', 'a method'),
        name,
        payload: h.p,
        deadlineMs,
        key: u,
      };
    }
    case 'rep':
      return { kind: 'rep', id: requireId(h), payload: h.p };
    case 'err': {
      const e = h.e;
      if (!isRecord(e)) throw new ProtocolError('error envelope needs an error map "e"');
      const error: WireError = {
        name: typeof e.name === 'string' ? e.name : 'Error',
        code: typeof e.code === 'string' ? e.code : 'EDGEML_REMOTE',
        message: typeof e.message === 'string' ? e.message : '',
      };
      if (typeof e.remoteCode === 'string') error.remoteCode = e.remoteCode;
      if (Array.isArray(e.fields)) error.fields = e.fields.filter((f): f is string => typeof f === 'string');
      return { kind: 'err', id: requireId(h), error };
    }
    case 'pub': {
      const seq = h.s;
      if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) throw new ProtocolError('publish needs a seq');
      return {
        kind: 'pub',
        topic: requireString(h, 't', 'a topic'),
        seq,
        epoch: requireString(h, 'ep', 'an epoch'),
        payload: h.p,
      };
    }
    default:
      throw new ProtocolError(`unknown envelope kind ${peerText(h.k)}`);
  }
}

/**
 * Reads only the request id of a header that failed to decode as a whole, so the server can still answer the
 * caller with an error instead of leaving it to time out. Returns `undefined` when no id can be found.
 */
export function peekRequestId(frames: readonly Frame[], kinds: readonly string[] = ['req']): number | undefined {
  const header = frames[0];
  if (header === undefined || header.byteLength === 0) return undefined;
  let h: unknown;
  try {
    if (header.byteLength > 1024 * 1024) throw new LimitError('header too large to read whole');
    h = readMsgpack(
      header,
      { maxDepth: 64, maxStringBytes: 1024 * 1024, maxCollectionLength: 100_000, maxValues: 100_000 },
      () => null,
    );
  } catch {
    // Too large or too deep as a whole (a payload nested beyond the limit, say): the id may still lead the header.
    h = leadingScalars(header);
  }
  if (!isRecord(h) || typeof h.k !== 'string' || !kinds.includes(h.k)) return undefined;
  const id = h.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : undefined;
}

/**
 * The entries at the start of a header map whose keys and values are short strings or unsigned integers, up to the
 * first entry that is not: enough to find `k` and `id` (which encoders write before the payload) without decoding
 * the rest. Reads at most a few hundred bytes and allocates nothing in proportion to the input.
 */
/** Decodes the short strings {@link leadingScalars} reads (invalid UTF-8 becomes U+FFFD, as `Buffer` did). */
const utf8 = new TextDecoder();

function leadingScalars(header: Uint8Array): Record<string, string | number> {
  const out: Record<string, string | number> = Object.create(null);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const end = header.byteLength;
  let pos = 0;
  const str = (n: number): string | undefined => {
    if (n > 64 || pos + n > end) return undefined;
    pos += n;
    return utf8.decode(header.subarray(pos - n, pos));
  };
  const scalar = (): string | number | undefined => {
    if (pos >= end) return undefined;
    const t = header[pos++]!;
    if (t < 0x80) return t;
    if (t >= 0xa0 && t < 0xc0) return str(t & 0x1f);
    if (t === 0xd9 && pos < end) return str(header[pos++]!);
    if (t === 0xcc && pos + 1 <= end) return header[pos++]!;
    if (t === 0xcd && pos + 2 <= end) {
      pos += 2;
      return view.getUint16(pos - 2);
    }
    if (t === 0xce && pos + 4 <= end) {
      pos += 4;
      return view.getUint32(pos - 4);
    }
    return undefined;
  };
  const t = header[0]!;
  let entries: number;
  if (t >= 0x80 && t < 0x90) {
    entries = t & 0x0f;
    pos = 1;
  } else if (t === 0xde && end >= 3) {
    entries = view.getUint16(1);
    pos = 3;
  } else return out;
  for (let i = 0; i < entries; i++) {
    const key = scalar();
    const value = typeof key === 'string' ? scalar() : undefined;
    if (key === undefined || value === undefined) break;
    out[key as string] = value;
  }
  return out;
}

/** Longest error `message` sent on the wire, in characters; longer ones are cut (see {@link truncateText}). */
export const WIRE_ERROR_MESSAGE_MAX = 8192;
/** Most entries of an error's `fields` sent on the wire. */
export const WIRE_ERROR_FIELDS_MAX = 64;

/** `read()`, or `undefined` when reading throws (a getter, a Proxy, a throwing `toString`). */
function safely<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** A string field of a thrown object, read without ever throwing. */
function stringField(value: object, key: string): string | undefined {
  const v = safely(() => (value as Record<string, unknown>)[key]);
  return typeof v === 'string' ? v : undefined;
}

/**
 * The wire form of any thrown value, bounded: `message` at most {@link WIRE_ERROR_MESSAGE_MAX} characters, `name`,
 * `remoteCode` and each field at most {@link PEER_TEXT_MAX}, at most {@link WIRE_ERROR_FIELDS_MAX} fields. So an
 * error that quotes peer input never makes a reply proportional to that input. Errors that are not edgeml errors
 * travel as `EDGEML_REMOTE`. Never throws, whatever was thrown (null-prototype objects, throwing getters or
 * `toString`, Symbol names, revoked Proxies).
 */
export function errorToWire(error: unknown): WireError {
  const w = safely(() => unboundedWire(error)) ?? {
    name: 'Error',
    code: 'EDGEML_REMOTE',
    message: '(an unprintable value was thrown)',
  };
  w.name = truncateText(w.name, PEER_TEXT_MAX);
  w.message = truncateText(w.message, WIRE_ERROR_MESSAGE_MAX);
  if (w.remoteCode !== undefined) w.remoteCode = truncateText(w.remoteCode, PEER_TEXT_MAX);
  if (w.fields !== undefined) {
    w.fields = w.fields.slice(0, WIRE_ERROR_FIELDS_MAX).map((f) => truncateText(f, PEER_TEXT_MAX));
  }
  return w;
}

function unboundedWire(error: unknown): WireError {
  if (error instanceof EdgeMLError && !(error instanceof RemoteError)) {
    const w: WireError = { name: error.name, code: error.code, message: error.message };
    if (error instanceof ConfigMismatchError) w.fields = [...error.fields];
    if (error instanceof InvalidArgumentError) w.fields = [error.field];
    return w;
  }
  if (error instanceof RemoteError) {
    // A RemoteError's message is "name: message"; send the remote message alone so it is not prefixed twice.
    const prefix = `${error.remoteName}: `;
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    const w: WireError = { name: error.remoteName, code: 'EDGEML_REMOTE', message };
    if (error.remoteCode !== undefined) w.remoteCode = error.remoteCode;
    return w;
  }
  if (typeof error === 'object' && error !== null) {
    const name = stringField(error, 'name') ?? 'Error';
    const message =
      stringField(error, 'message') ?? safely(() => String(error)) ?? '(an unprintable object was thrown)';
    const w: WireError = { name, code: 'EDGEML_REMOTE', message };
    const code = stringField(error, 'code');
    if (code !== undefined) w.remoteCode = code;
    return w;
  }
  const text = typeof error === 'symbol' ? error.toString() : safely(() => String(error));
  return { name: 'Error', code: 'EDGEML_REMOTE', message: text ?? '(an unprintable value was thrown)' };
}

/** The local error for a wire error: the same edgeml class for edgeml codes, {@link RemoteError} otherwise. */
export function errorFromWire(w: WireError): EdgeMLError {
  switch (w.code) {
    case 'EDGEML_TIMEOUT':
      return new TimeoutError(w.message, 0);
    case 'EDGEML_PROTOCOL':
      return new ProtocolError(w.message);
    case 'EDGEML_CONFIG_MISMATCH':
      return new ConfigMismatchError(w.message, w.fields ?? []);
    case 'EDGEML_CLOSED':
      return new ClosedError(w.message);
    case 'EDGEML_LIMIT':
      return new LimitError(w.message);
    case 'EDGEML_ABORTED':
      return new AbortError(w.message);
    case 'EDGEML_NOT_FOUND':
      return new NotFoundError(w.message);
    case 'EDGEML_AUTH':
      return new AuthenticationError(w.message);
    case 'EDGEML_INVALID_ARGUMENT': {
      const field = w.fields?.[0];
      if (field !== undefined) {
        const prefix = `${field}: `;
        return new InvalidArgumentError(
          field,
          w.message.startsWith(prefix) ? w.message.slice(prefix.length) : w.message,
        );
      }
      const i = w.message.indexOf(': ');
      return i > 0
        ? new InvalidArgumentError(w.message.slice(0, i), w.message.slice(i + 2))
        : new InvalidArgumentError('argument', w.message);
    }
    case 'EDGEML_ERROR':
      return new EdgeMLError(w.message);
    default:
      return new RemoteError(w.name, w.message, w.remoteCode);
  }
}
