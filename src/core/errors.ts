/**
 * The error hierarchy of edgeml. Every error the library raises is an {@link EdgeMLError}; no raw ZeroMQ error
 * (EAGAIN, EBUSY, ...) reaches a user. Each class has a stable `name` and `code` that stay the same across releases
 * and travel over the wire (see docs/protocol.md, "Errors").
 *
 * @module
 */

const BRAND = Symbol.for('edgeml.error');

/** Stable machine-readable error codes. */
export type ErrorCode =
  | 'EDGEML_ERROR'
  | 'EDGEML_TIMEOUT'
  | 'EDGEML_REMOTE'
  | 'EDGEML_PROTOCOL'
  | 'EDGEML_CONFIG_MISMATCH'
  | 'EDGEML_CLOSED'
  | 'EDGEML_LIMIT'
  | 'EDGEML_ABORTED'
  | 'EDGEML_NOT_FOUND'
  | 'EDGEML_INVALID_ARGUMENT'
  | 'EDGEML_AUTH';

/** Options accepted by every edgeml error constructor. */
export interface EdgeMLErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * Root of every error edgeml raises. `instanceof EdgeMLError` also holds for errors created by another copy of the
 * library loaded in the same process (the check uses a global brand).
 */
export class EdgeMLError extends Error {
  /** Stable machine-readable code, for example `EDGEML_TIMEOUT`. */
  readonly code: ErrorCode;

  constructor(message: string, code: ErrorCode = 'EDGEML_ERROR', options?: EdgeMLErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  override get name(): string {
    return 'EdgeMLError';
  }

  /** Recognises edgeml errors, also those created by another copy of the library in the same process. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === EdgeMLError) return typeof value === 'object' && value !== null && BRAND in value;
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}
Object.defineProperty(EdgeMLError.prototype, BRAND, { value: true });

/** A call, connection or handshake did not complete before its deadline. */
export class TimeoutError extends EdgeMLError {
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number, options?: EdgeMLErrorOptions) {
    super(message, 'EDGEML_TIMEOUT', options);
    this.timeoutMs = timeoutMs;
  }
  override get name(): string {
    return 'TimeoutError';
  }
}

/** The operation was cancelled through an `AbortSignal`. */
export class AbortError extends EdgeMLError {
  constructor(message = 'operation aborted', options?: EdgeMLErrorOptions) {
    super(message, 'EDGEML_ABORTED', options);
  }
  override get name(): string {
    return 'AbortError';
  }
}

/**
 * A callback threw on the other side (a handler, an observation or action callback, a train step). Carries the remote
 * error's name and message; the remote server goes on serving.
 */
export class RemoteError extends EdgeMLError {
  /** `name` of the error thrown on the remote side, for example `TypeError`. */
  readonly remoteName: string;
  /** `code` of the remote error, when it had a string code. */
  readonly remoteCode: string | undefined;
  constructor(remoteName: string, message: string, remoteCode?: string, options?: EdgeMLErrorOptions) {
    super(`${remoteName}: ${message}`, 'EDGEML_REMOTE', options);
    this.remoteName = remoteName;
    this.remoteCode = remoteCode;
  }
  override get name(): string {
    return 'RemoteError';
  }
}

/** Bad input: a malformed, truncated or unexpected message, or a value that cannot be encoded. */
export class ProtocolError extends EdgeMLError {
  constructor(message: string, options?: EdgeMLErrorOptions) {
    super(message, 'EDGEML_PROTOCOL', options);
  }
  override get name(): string {
    return 'ProtocolError';
  }
}

/** The client's config differs from the server's. `fields` names the fields that differ. */
export class ConfigMismatchError extends EdgeMLError {
  /** Names of the config fields that differ between client and server. */
  readonly fields: readonly string[];
  constructor(message: string, fields: readonly string[], options?: EdgeMLErrorOptions) {
    super(message, 'EDGEML_CONFIG_MISMATCH', options);
    this.fields = fields;
  }
  override get name(): string {
    return 'ConfigMismatchError';
  }
}

/** The client or server was closed (before or during the operation). */
export class ClosedError extends EdgeMLError {
  constructor(message = 'closed', options?: EdgeMLErrorOptions) {
    super(message, 'EDGEML_CLOSED', options);
  }
  override get name(): string {
    return 'ClosedError';
  }
}

/** A limit was exceeded: message size, frame count, nesting depth, in-flight requests, queue length. */
export class LimitError extends EdgeMLError {
  constructor(message: string, options?: EdgeMLErrorOptions) {
    super(message, 'EDGEML_LIMIT', options);
  }
  override get name(): string {
    return 'LimitError';
  }
}

/** A named thing (interface, table, key, request type) does not exist. */
export class NotFoundError extends EdgeMLError {
  constructor(message: string, options?: EdgeMLErrorOptions) {
    super(message, 'EDGEML_NOT_FOUND', options);
  }
  override get name(): string {
    return 'NotFoundError';
  }
}

/**
 * The peer refused this connection's security: a client key the server does not allow, a wrong server public key,
 * or CURVE security on one side only. The message says which and what to change. See docs/security.md.
 */
export class AuthenticationError extends EdgeMLError {
  constructor(message: string, options?: EdgeMLErrorOptions) {
    super(message, 'EDGEML_AUTH', options);
  }
  override get name(): string {
    return 'AuthenticationError';
  }
}

/** An argument or config value is invalid. `field` names it. */
export class InvalidArgumentError extends EdgeMLError {
  /** The argument or config field that is invalid. */
  readonly field: string;
  constructor(field: string, message: string, options?: EdgeMLErrorOptions) {
    super(`${field}: ${message}`, 'EDGEML_INVALID_ARGUMENT', options);
    this.field = field;
  }
  override get name(): string {
    return 'InvalidArgumentError';
  }
}
