import { describe, expect, it } from 'vitest';
import {
  AbortError,
  AuthenticationError,
  ClosedError,
  ConfigMismatchError,
  EdgeMLError,
  type ErrorCode,
  InvalidArgumentError,
  LimitError,
  NotFoundError,
  ProtocolError,
  RemoteError,
  TimeoutError,
} from '../src/core/errors.js';
import * as api from '../src/index.js';

/** Every error class with an example instance and its stable name and code (these never change across releases). */
const CASES: [EdgeMLError, string, ErrorCode, abstract new (...args: never[]) => EdgeMLError][] = [
  [new EdgeMLError('generic'), 'EdgeMLError', 'EDGEML_ERROR', EdgeMLError],
  [new TimeoutError('call timed out', 500), 'TimeoutError', 'EDGEML_TIMEOUT', TimeoutError],
  [new AbortError(), 'AbortError', 'EDGEML_ABORTED', AbortError],
  [new RemoteError('TypeError', 'x is undefined', 'ERR_X'), 'RemoteError', 'EDGEML_REMOTE', RemoteError],
  [new ProtocolError('bad frame'), 'ProtocolError', 'EDGEML_PROTOCOL', ProtocolError],
  [new ConfigMismatchError('differs', ['rate']), 'ConfigMismatchError', 'EDGEML_CONFIG_MISMATCH', ConfigMismatchError],
  [new ClosedError(), 'ClosedError', 'EDGEML_CLOSED', ClosedError],
  [new LimitError('too big'), 'LimitError', 'EDGEML_LIMIT', LimitError],
  [new NotFoundError('no such interface'), 'NotFoundError', 'EDGEML_NOT_FOUND', NotFoundError],
  [
    new AuthenticationError('the server refused this client’s key'),
    'AuthenticationError',
    'EDGEML_AUTH',
    AuthenticationError,
  ],
  [
    new InvalidArgumentError('port', 'must be an integer'),
    'InvalidArgumentError',
    'EDGEML_INVALID_ARGUMENT',
    InvalidArgumentError,
  ],
];

describe('error classes', () => {
  it.each(CASES)('%s has a stable name and code and is an EdgeMLError', (error, name, code, Class) => {
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(error).toBeInstanceOf(Class);
    expect(error).toBeInstanceOf(EdgeMLError);
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toBe(`${name}: ${error.message}`);
    expect(error.stack?.startsWith(`${name}: `)).toBe(true);
  });

  it('are all exported from the public entry', () => {
    for (const [, name] of CASES) expect(typeof (api as Record<string, unknown>)[name]).toBe('function');
  });

  it('the table covers every error class the public entry exports', () => {
    const exported = Object.entries(api as Record<string, unknown>)
      .filter(([, v]) => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof EdgeMLError)
      .map(([name]) => name);
    expect(exported.sort()).toEqual(CASES.map(([, name]) => name).sort());
  });

  it('does not confuse sibling classes', () => {
    expect(new TimeoutError('t', 1)).not.toBeInstanceOf(ProtocolError);
    expect(new LimitError('l')).not.toBeInstanceOf(TimeoutError);
    expect(new Error('plain')).not.toBeInstanceOf(EdgeMLError);
    expect(null).not.toBeInstanceOf(EdgeMLError);
  });

  it('recognises an error from another copy of the library as an EdgeMLError', () => {
    const foreign = Object.assign(new Error('from elsewhere'), { code: 'EDGEML_TIMEOUT' });
    Object.defineProperty(foreign, Symbol.for('edgeml.error'), { value: true });
    expect(foreign).toBeInstanceOf(EdgeMLError);
  });

  it('carries each class its own details', () => {
    expect(new TimeoutError('t', 250).timeoutMs).toBe(250);
    const remote = new RemoteError('ValueError', 'bad shape', 'E_SHAPE');
    expect(remote.remoteName).toBe('ValueError');
    expect(remote.remoteCode).toBe('E_SHAPE');
    expect(remote.message).toBe('ValueError: bad shape');
    expect(new RemoteError('Error', 'x').remoteCode).toBeUndefined();
    expect(new ConfigMismatchError('m', ['a', 'b']).fields).toEqual(['a', 'b']);
    const invalid = new InvalidArgumentError('timeoutMs', 'must be a positive number');
    expect(invalid.field).toBe('timeoutMs');
    expect(invalid.message).toBe('timeoutMs: must be a positive number');
    expect(new AbortError().message).toBe('operation aborted');
    expect(new ClosedError().message).toBe('closed');
  });

  it('keeps the cause', () => {
    const cause = new Error('EAGAIN');
    expect(new ProtocolError('bad', { cause }).cause).toBe(cause);
    expect(new TimeoutError('t', 1, { cause }).cause).toBe(cause);
    expect(new InvalidArgumentError('f', 'm', { cause }).cause).toBe(cause);
    expect('cause' in new ProtocolError('no cause')).toBe(false);
  });
});
