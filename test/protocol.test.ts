import { describe, expect, it } from 'vitest';
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
} from '../src/core/errors.js';
import { Tensor } from '../src/tensor/tensor.js';
import { decodeMessage, encodeMessage, type Frame } from '../src/wire/codec.js';
import {
  decodeEnvelope,
  encodeError,
  encodePublish,
  encodeReply,
  encodeRequest,
  errorFromWire,
  errorToWire,
  peekRequestId,
  type WireError,
} from '../src/wire/envelopes.js';

/** Sends `error` through a full error envelope and back. */
function throughWire(error: unknown): EdgeMLError {
  const env = decodeEnvelope(encodeError(3, error));
  if (env.kind !== 'err') throw new Error('expected an error envelope');
  return errorFromWire(env.error);
}

describe('errors on the wire', () => {
  const EDGEML: EdgeMLError[] = [
    new EdgeMLError('generic'),
    new TimeoutError('call timed out after 5 ms', 5),
    new AbortError('call aborted'),
    new ProtocolError('bad frame'),
    new ConfigMismatchError('config mismatch: rate, size', ['rate', 'size']),
    new ClosedError('server closed'),
    new LimitError('message too large'),
    new NotFoundError('unknown interface "x"; available: a, b'),
    new AuthenticationError('the server at tcp://127.0.0.1:5555 refused this client’s key: add it to allowedClients'),
    new InvalidArgumentError('payload.a[2]', 'cannot encode a function'),
  ];

  it.each(EDGEML.map((e) => [e.name, e]))('keeps the class, name, code and message of %s', (_name, error) => {
    const back = throughWire(error);
    expect(back.constructor).toBe(error.constructor);
    expect(back.name).toBe(error.name);
    expect(back.code).toBe(error.code);
    expect(back.message).toBe(error.message);
  });

  it('keeps the fields of a ConfigMismatchError and the field of an InvalidArgumentError', () => {
    expect((throughWire(new ConfigMismatchError('m', ['a', 'b'])) as ConfigMismatchError).fields).toEqual(['a', 'b']);
    const invalid = throughWire(new InvalidArgumentError('config: x', 'has: colons')) as InvalidArgumentError;
    expect(invalid.field).toBe('config: x');
    expect(invalid.message).toBe('config: x: has: colons');
  });

  it('falls back to the message prefix for an invalid-argument error without fields', () => {
    const e = errorFromWire({ name: 'InvalidArgumentError', code: 'EDGEML_INVALID_ARGUMENT', message: 'port: bad' });
    expect((e as InvalidArgumentError).field).toBe('port');
  });

  it('turns a thrown Error into a RemoteError carrying its name, message and string code', () => {
    const thrown = Object.assign(new TypeError('x is not a function'), { code: 'ERR_X' });
    expect(errorToWire(thrown)).toEqual({
      name: 'TypeError',
      code: 'EDGEML_REMOTE',
      message: 'x is not a function',
      remoteCode: 'ERR_X',
    });
    const back = throughWire(thrown) as RemoteError;
    expect(back).toBeInstanceOf(RemoteError);
    expect(back.remoteName).toBe('TypeError');
    expect(back.remoteCode).toBe('ERR_X');
    expect(back.message).toBe('TypeError: x is not a function');
    expect((throughWire(Object.assign(new Error('e'), { code: 42 })) as RemoteError).remoteCode).toBeUndefined();
  });

  it('passes a RemoteError on without prefixing its message twice', () => {
    const once = throughWire(new Error('boom')) as RemoteError;
    const twice = throughWire(once) as RemoteError;
    expect(twice.message).toBe('Error: boom');
    expect(twice.remoteName).toBe('Error');
  });

  it('sends thrown non-errors as their string form', () => {
    expect(throughWire('just a string').message).toBe('Error: just a string');
    expect(throughWire(42).message).toBe('Error: 42');
    expect(throughWire(undefined)).toBeInstanceOf(RemoteError);
  });

  it('maps an unknown code from a newer peer to a RemoteError', () => {
    const w: WireError = { name: 'QuotaError', code: 'EDGEML_QUOTA', message: 'over quota' };
    const e = errorFromWire(w) as RemoteError;
    expect(e).toBeInstanceOf(RemoteError);
    expect(e.remoteName).toBe('QuotaError');
  });
});

describe('envelopes', () => {
  it('round-trips a request with and without a name', () => {
    const t = new Tensor('float32', Float32Array.of(1, 2), [2]);
    const env = decodeEnvelope(encodeRequest(5, 'call', 'classify', { t }));
    expect(env).toMatchObject({ kind: 'req', id: 5, method: 'call', name: 'classify' });
    expect((env as { payload: { t: Tensor } }).payload.t.data).toEqual(t.data);
    const frames = encodeRequest(6, 'interfaces', undefined, null);
    expect(Object.keys(decodeMessage(frames) as object)).toEqual(['v', 'k', 'id', 'm', 'p']);
    expect(decodeEnvelope(frames)).toEqual({
      kind: 'req',
      id: 6,
      method: 'interfaces',
      name: undefined,
      payload: null,
    });
  });

  it('round-trips a reply, an error and a publish', () => {
    expect(decodeEnvelope(encodeReply(9, [1, 'a']))).toEqual({ kind: 'rep', id: 9, payload: [1, 'a'] });
    expect(decodeEnvelope(encodeError(9, new NotFoundError('nope')))).toEqual({
      kind: 'err',
      id: 9,
      error: { name: 'NotFoundError', code: 'EDGEML_NOT_FOUND', message: 'nope' },
    });
    expect(decodeEnvelope(encodePublish('obs', 3, 'ep1', { x: 1 }))).toEqual({
      kind: 'pub',
      topic: 'obs',
      seq: 3,
      epoch: 'ep1',
      payload: { x: 1 },
    });
  });

  it('names the payload path of a value that cannot be encoded (not the envelope path)', () => {
    let error: unknown;
    try {
      encodeRequest(1, 'call', 'x', { a: [0, 1, () => 0] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe('payload.a[2]');
    expect(() => encodeReply(1, new Date())).toThrow(/^payload: cannot encode a Date/);
    expect(() => encodePublish('t', 1, 'e', { m: new Map() })).toThrow(/^payload\.m: /);
  });

  it('applies the decode limits', () => {
    const frames = encodeRequest(1, 'call', 'x', 'y'.repeat(100));
    expect(() => decodeEnvelope(frames, { maxStringBytes: 50 })).toThrow(LimitError);
  });

  it('reads an error reply leniently: missing fields get defaults', () => {
    const frames = encodeMessage({ v: 1, k: 'err', id: 2, e: { message: 'x', fields: ['a', 3], remoteCode: 'R' } });
    expect(decodeEnvelope(frames)).toEqual({
      kind: 'err',
      id: 2,
      error: { name: 'Error', code: 'EDGEML_REMOTE', message: 'x', fields: ['a'], remoteCode: 'R' },
    });
  });
});

describe('envelope validation', () => {
  const bad: [string, unknown, RegExp][] = [
    ['a header that is not a map', [1, 2], /header is not a map/],
    ['a missing version', { k: 'rep', id: 1, p: null }, /unsupported protocol version undefined/],
    ['version 2', { v: 2, k: 'rep', id: 1, p: null }, /unsupported protocol version 2 \(this peer speaks 1\)/],
    ['a version string', { v: '1', k: 'rep', id: 1 }, /unsupported protocol version "1"/],
    ['an unknown kind', { v: 1, k: 'ping', id: 1 }, /unknown envelope kind "ping"/],
    ['a missing kind', { v: 1, id: 1 }, /unknown envelope kind undefined/],
    ['a request without an id', { v: 1, k: 'req', m: 'call', p: null }, /integer id/],
    ['a negative id', { v: 1, k: 'req', id: -1, m: 'call' }, /integer id/],
    ['a fractional id', { v: 1, k: 'rep', id: 1.5 }, /integer id/],
    ['a string id', { v: 1, k: 'err', id: '1', e: {} }, /integer id/],
    ['a request without a method', { v: 1, k: 'req', id: 1 }, /method \(string "m"\)/],
    ['a request with a numeric name', { v: 1, k: 'req', id: 1, m: 'call', n: 5 }, /name "n" must be a string/],
    ['an error without "e"', { v: 1, k: 'err', id: 1 }, /error map "e"/],
    ['a publish without a seq', { v: 1, k: 'pub', t: 'a', ep: 'e' }, /publish needs a seq/],
    ['a publish without a topic', { v: 1, k: 'pub', s: 1, ep: 'e' }, /topic \(string "t"\)/],
    ['a publish without an epoch', { v: 1, k: 'pub', s: 1, t: 'a' }, /epoch \(string "ep"\)/],
  ];
  it.each(bad)('rejects %s with a clear ProtocolError', (_what, header, message) => {
    const frames = encodeMessage(header);
    expect(() => decodeEnvelope(frames)).toThrow(ProtocolError);
    expect(() => decodeEnvelope(frames)).toThrow(message);
  });
});

describe('peekRequestId', () => {
  const raw = (hex: string): Frame => Uint8Array.from(Buffer.from(hex, 'hex'));

  it('finds the id of a request whose payload cannot be decoded, so the caller gets an error', () => {
    // {v: 1, k: 'req', id: 77, m: 'call', p: <ext type 9>}: decodeEnvelope fails, the id is still readable.
    const header = encodeMessage({ v: 1, k: 'req', id: 77, m: 'call', p: 0 })[0]!;
    const broken = raw(`${Buffer.from(header.subarray(0, header.length - 1)).toString('hex')}d40901`);
    expect(() => decodeEnvelope([broken])).toThrow(ProtocolError);
    expect(peekRequestId([broken])).toBe(77);
  });

  it('gives undefined when there is no usable id', () => {
    expect(peekRequestId([])).toBeUndefined();
    expect(peekRequestId([raw('c1')])).toBeUndefined();
    expect(peekRequestId(encodeReply(4, null))).toBeUndefined();
    expect(peekRequestId(encodeReply(4, null), ['rep'])).toBe(4);
    expect(peekRequestId(encodeMessage({ v: 1, k: 'req', id: -3 }))).toBeUndefined();
  });
});
