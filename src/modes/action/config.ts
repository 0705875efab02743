/**
 * The configuration of the action mode: which port serves requests, which observation and action keys exist, and
 * where observations are streamed. Validated when it is built; compared by the handshake in a canonical form. Also
 * the mode's server and client options and its wire names (docs/action.md, "Wire methods").
 *
 * @module
 */
import { InvalidArgumentError, NotFoundError } from '../../core/errors.js';
import { peerText } from '../../core/peer-text.js';
import type { ImageSpec } from '../../image/payload.js';
import type { ConfigRecord } from '../../messaging/handshake.js';
import type { ClientOptions, ServerOptions } from '../../messaging/mode-options.js';
import type { ImageDecodeOptions } from '../../tensor/image.js';

/** The fields of an action config, as a plain object. Servers and clients accept this or an {@link ActionConfig}. */
export interface ActionConfigInit {
  /**
   * TCP port of the request/reply socket (`obs`, `act`). 1..65535; a server may use 0 to have the system pick a free
   * port (read it back from `ActionServer.port` or `ActionServer.config`). A client needs the real port.
   */
  portNumber: number;
  /** Names of the actions a client may send (non-empty, distinct, non-empty strings). */
  actionKeys: readonly string[];
  /** Names of the observations a client may ask for (non-empty, distinct, non-empty strings). */
  observationKeys: readonly string[];
  /**
   * TCP port of the observation stream (`publishObs` / `registerObsCallback`). Absent: no streaming. Same range
   * rules as `portNumber`, and it must differ from it (unless both are 0).
   */
  broadcastPort?: number | undefined;
  /** Free-form version of the application's data layout; compared by the handshake when set. */
  version?: string | number | undefined;
}

function checkPort(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new InvalidArgumentError(
      field,
      `must be an integer in 0..65535 (0 lets a server pick a free port), got ${String(value)}`,
    );
  }
  return value;
}

function checkKeys(field: string, value: unknown): readonly string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidArgumentError(field, 'must be a non-empty array of strings');
  }
  const seen = new Set<string>();
  for (const k of value as unknown[]) {
    if (typeof k !== 'string' || k.length === 0) {
      throw new InvalidArgumentError(field, `keys must be non-empty strings, got ${JSON.stringify(k) ?? String(k)}`);
    }
    if (seen.has(k)) throw new InvalidArgumentError(field, `duplicate key ${JSON.stringify(k)}`);
    seen.add(k);
  }
  return Object.freeze([...(value as string[])]);
}

function unknownKey(kind: string, key: unknown, known: readonly string[]): NotFoundError {
  return new NotFoundError(`unknown ${kind} key ${peerText(key)}; known: ${known.join(', ')}`);
}

/**
 * A validated action-mode config. Construction throws an {@link InvalidArgumentError} whose `field` names the bad
 * field (`portNumber`, `broadcastPort`, `actionKeys`, `observationKeys`, `version`).
 *
 * The handshake compares {@link ActionConfig.canonical}: the key arrays sorted (so their order does not matter), the
 * broadcast port, and the version. `portNumber` is not compared: a client that reached the server has the right one.
 *
 * @example
 * ```ts
 * const config = new ActionConfig({ portNumber: 5555, actionKeys: ['move'], observationKeys: ['cam1'] });
 * ```
 */
export class ActionConfig implements ActionConfigInit {
  readonly portNumber: number;
  readonly actionKeys: readonly string[];
  readonly observationKeys: readonly string[];
  readonly broadcastPort: number | undefined;
  readonly version: string | number | undefined;

  constructor(init: ActionConfigInit) {
    if (typeof init !== 'object' || init === null) throw new InvalidArgumentError('config', 'must be an object');
    this.portNumber = checkPort('portNumber', init.portNumber);
    this.actionKeys = checkKeys('actionKeys', init.actionKeys);
    this.observationKeys = checkKeys('observationKeys', init.observationKeys);
    this.broadcastPort = init.broadcastPort === undefined ? undefined : checkPort('broadcastPort', init.broadcastPort);
    if (this.broadcastPort !== undefined && this.broadcastPort !== 0 && this.broadcastPort === this.portNumber) {
      throw new InvalidArgumentError('broadcastPort', `must differ from portNumber (${this.portNumber})`);
    }
    const v = init.version;
    if (v !== undefined && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw new InvalidArgumentError('version', 'must be a string or a finite number');
    }
    this.version = v;
    Object.freeze(this);
  }

  /** `init` itself when it is already an {@link ActionConfig}, else a new validated one. */
  static from(init: ActionConfigInit | ActionConfig): ActionConfig {
    return init instanceof ActionConfig ? init : new ActionConfig(init);
  }

  /** A copy with some fields replaced (validated again). */
  with(changes: Partial<ActionConfigInit>): ActionConfig {
    return new ActionConfig({ ...this.toJSON(), ...changes });
  }

  /** Whether observations are streamed (a `broadcastPort` is set). */
  get streaming(): boolean {
    return this.broadcastPort !== undefined;
  }

  /** Whether `key` is one of the observation keys. */
  hasObservation(key: string): boolean {
    return this.observationKeys.includes(key);
  }

  /** Whether `key` is one of the action keys. */
  hasAction(key: string): boolean {
    return this.actionKeys.includes(key);
  }

  /**
   * The observation keys a request names, checked against this config; all of them when `keys` is `undefined` or
   * `null`. Clients check before sending, servers again on receipt.
   * @throws {@link NotFoundError} for a key that is not an observation key, {@link InvalidArgumentError} when `keys`
   * is not an array.
   */
  selectObservations(keys: unknown): string[] {
    if (keys === undefined || keys === null) return [...this.observationKeys];
    if (!Array.isArray(keys)) throw new InvalidArgumentError('keys', 'must be an array of observation keys');
    for (const k of keys as unknown[]) {
      if (typeof k !== 'string' || !this.hasObservation(k)) throw unknownKey('observation', k, this.observationKeys);
    }
    return [...(keys as string[])];
  }

  /**
   * Checks that `key` is an action key.
   * @throws {@link NotFoundError} otherwise.
   */
  checkAction(key: unknown): asserts key is string {
    if (typeof key !== 'string' || !this.hasAction(key)) throw unknownKey('action', key, this.actionKeys);
  }

  /**
   * The form the handshake compares (and sends in `hello`): `actionKeys` and `observationKeys` sorted, plus
   * `broadcastPort` and `version` when set. Absent fields are left out.
   */
  canonical(): ConfigRecord {
    const out: Record<string, unknown> = {
      actionKeys: [...this.actionKeys].sort(),
      observationKeys: [...this.observationKeys].sort(),
    };
    if (this.broadcastPort !== undefined) out.broadcastPort = this.broadcastPort;
    if (this.version !== undefined) out.version = this.version;
    return out;
  }

  /** The fields as a plain object (as given, key order kept). */
  toJSON(): ActionConfigInit {
    const out: ActionConfigInit = {
      portNumber: this.portNumber,
      actionKeys: [...this.actionKeys],
      observationKeys: [...this.observationKeys],
    };
    if (this.broadcastPort !== undefined) out.broadcastPort = this.broadcastPort;
    if (this.version !== undefined) out.version = this.version;
    return out;
  }
}

/** Mode name sent in the handshake. */
export const ACTION_MODE = 'action';
/** Wire method returning observations: payload `{ keys }`, reply an object keyed by observation key. */
export const M_OBS = 'obs';
/** Wire method running an action: `n` is the action key, the payload is the action's payload. */
export const M_ACT = 'act';
/** Topic under which {@link ActionServer.publishObs} streams observations. */
export const OBS_TOPIC = 'obs';

/** Options of an {@link ActionServer}: those of every server ({@link ServerOptions}). */
export interface ActionServerOptions extends ServerOptions {
  /**
   * Encode camera frames once in `publishObs`, for every subscriber: observation keys mapped to how to send the uint8
   * HxWxC tensor under each (`{ cam1: { format: 'jpeg', quality: 80 } }`, optionally `width` and `height` to resize
   * to). Encoding runs off the event loop; while one observation is being encoded, only the newest of the ones
   * published meanwhile is kept (the others are counted as dropped), as a stream subscriber would skip them anyway.
   * Subscribers receive `Image` values (`await image.decode()` for pixels). Only the stream is affected, not `obs`
   * replies.
   */
  encodeObs?: Readonly<Record<string, ImageSpec>>;
}

/** Options of an {@link ActionClient}: those of every client ({@link ClientOptions}). */
export interface ActionClientOptions extends ClientOptions {
  /**
   * Decode every image in received observations (stream and `obs()` replies) to a uint8 `[height, width, channels]`
   * tensor before handing them over (`true`, or the decode limits). Off by default: images arrive as `Image` values.
   * An observation that fails to decode reaches no callback: each callback's `onError` gets the error.
   */
  decodeImages?: boolean | ImageDecodeOptions;
}

/** Options of {@link ActionClient.registerObsCallback}. */
export interface ObsStreamOptions {
  /** Observations queued for a slow callback before the oldest is dropped. @default 4 */
  queueSize?: number;
  /** Called when the callback throws or rejects (the stream goes on). */
  onError?: (error: unknown) => void;
  /** Stops this callback when it aborts (like calling the returned unsubscribe function). */
  signal?: AbortSignal;
}
