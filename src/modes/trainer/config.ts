/**
 * Configuration of the trainer mode: {@link TrainerConfig} (ports, data tables, custom request types, the client-side
 * rate limit, a version string) validated at construction, its canonical form for the config handshake, and the
 * {@link RateLimiter} a trainer client uses to enforce `rateLimit`.
 *
 * @module
 */

import {
  DEFAULT_TRAINER_BROADCAST_PORT,
  DEFAULT_TRAINER_CONFIG_VERSION,
  DEFAULT_TRAINER_PORT,
} from '../../core/defaults.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { ConfigRecord } from '../../messaging/handshake.js';
import { DataTable, type DataTableOptions } from './tables.js';

/** The fields of a {@link TrainerConfig}, as a plain object. */
export interface TrainerConfigOptions {
  /** Request/reply port (actors' `trainStep` and `request`). 0 lets a server pick a free port (read it back from
   * `server.port`); a client needs the real port. @default {@link DEFAULT_TRAINER_PORT} */
  portNumber?: number;
  /** Port the weights are broadcast on. 0 lets a server pick a free port. @default
   * {@link DEFAULT_TRAINER_BROADCAST_PORT} */
  broadcastPort?: number;
  /** The data tables actors send experience to; at least one, distinct names. */
  dataTable: readonly (DataTable | DataTableOptions)[];
  /** Names of the custom requests served by the server's request callback. @default [] */
  requestTypes?: readonly string[];
  /** Most `trainStep` + `request` calls per second per client, enforced by the client (see {@link RateLimiter});
   * `undefined` or `null` for no limit. @default undefined */
  rateLimit?: number | null | undefined;
  /** Any string both sides must agree on (for example the version of your experience format).
   * @default {@link DEFAULT_TRAINER_CONFIG_VERSION} */
  version?: string;
}

const FIELDS = new Set(['portNumber', 'broadcastPort', 'dataTable', 'requestTypes', 'rateLimit', 'version']);

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}

function port(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    fail(field, `must be an integer in 0..65535 (0: any free port, servers only), got ${String(value)}`);
  }
  return value;
}

function distinctNames(values: readonly string[], field: string): void {
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (seen.has(v)) fail(`${field}[${i}]`, `duplicate name ${JSON.stringify(v)}`);
    seen.add(v);
  });
}

/**
 * The trainer mode's config, shared by server and client: the client's config must equal the server's (the connect
 * handshake compares them and names the fields that differ). Every field is validated here, so a mistake surfaces as
 * an {@link InvalidArgumentError} naming the field, at construction.
 *
 * @example
 * ```ts
 * const config = new TrainerConfig({ dataTable: [new DataTable({ name: 'agent1', size: 2 })] });
 * config.portNumber; // 5555
 * ```
 */
export class TrainerConfig {
  /** Request/reply port (0: any free port, for servers). */
  readonly portNumber: number;
  /** Weights broadcast port (0: any free port, for servers). */
  readonly broadcastPort: number;
  /** The data tables. */
  readonly dataTable: readonly DataTable[];
  /** Custom request types. */
  readonly requestTypes: readonly string[];
  /** Calls per second per client, or `undefined` for no limit. */
  readonly rateLimit: number | undefined;
  /** Version string both sides agree on. */
  readonly version: string;

  /** @throws {@link InvalidArgumentError} naming the first invalid field */
  constructor(options: TrainerConfigOptions) {
    if (typeof options !== 'object' || options === null) fail('config', 'must be a TrainerConfig or its fields');
    for (const key of Object.keys(options)) if (!FIELDS.has(key)) fail(key, 'unknown field');
    this.portNumber = port(options.portNumber, 'portNumber', DEFAULT_TRAINER_PORT);
    this.broadcastPort = port(options.broadcastPort, 'broadcastPort', DEFAULT_TRAINER_BROADCAST_PORT);
    if (this.portNumber !== 0 && this.portNumber === this.broadcastPort) {
      fail('broadcastPort', `must differ from portNumber (${this.portNumber})`);
    }
    const tables = options.dataTable;
    if (!Array.isArray(tables) || tables.length === 0) fail('dataTable', 'must be a non-empty array of DataTable');
    this.dataTable = Object.freeze(
      (tables as readonly (DataTable | DataTableOptions)[]).map((t, i) => DataTable.from(t, `dataTable[${i}]`)),
    );
    distinctNames(
      this.dataTable.map((t) => t.name),
      'dataTable',
    );
    const types = options.requestTypes ?? [];
    if (!Array.isArray(types)) fail('requestTypes', 'must be an array of strings');
    (types as readonly unknown[]).forEach((t, i) => {
      if (typeof t !== 'string' || t.length === 0) fail(`requestTypes[${i}]`, 'must be a non-empty string');
    });
    distinctNames(types, 'requestTypes');
    this.requestTypes = Object.freeze([...types]);
    const rate = options.rateLimit;
    if (rate !== undefined && rate !== null && (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0)) {
      fail('rateLimit', `must be a positive number of calls per second, or null for none, got ${String(rate)}`);
    }
    this.rateLimit = rate ?? undefined;
    const version = options.version ?? DEFAULT_TRAINER_CONFIG_VERSION;
    if (typeof version !== 'string') fail('version', 'must be a string');
    this.version = version;
  }

  /** A {@link TrainerConfig} as is, or a new one from plain fields. */
  static from(value: TrainerConfig | TrainerConfigOptions): TrainerConfig {
    return value instanceof TrainerConfig ? value : new TrainerConfig(value);
  }

  /** The table named `name`, if the config has one. */
  table(name: string): DataTable | undefined {
    return this.dataTable.find((t) => t.name === name);
  }

  /** A copy of this config with other ports (a server that bound port 0 reports its real ports this way). */
  withPorts(portNumber: number, broadcastPort: number): TrainerConfig {
    return new TrainerConfig({ ...this.toJSON(), portNumber, broadcastPort });
  }

  /** The plain form of the config (what {@link TrainerConfig.from} accepts). */
  toJSON(): Required<Omit<TrainerConfigOptions, 'dataTable' | 'rateLimit'>> & {
    dataTable: ReturnType<DataTable['toJSON']>[];
    rateLimit: number | null;
  } {
    return {
      portNumber: this.portNumber,
      broadcastPort: this.broadcastPort,
      dataTable: this.dataTable.map((t) => t.toJSON()),
      requestTypes: [...this.requestTypes],
      rateLimit: this.rateLimit ?? null,
      version: this.version,
    };
  }

  /**
   * The canonical form compared by the connect handshake: tables sorted by name and request types sorted (their
   * order does not matter), `rateLimit` null when unset.
   */
  toHandshake(): ConfigRecord {
    const plain = this.toJSON();
    return {
      ...plain,
      dataTable: plain.dataTable.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      requestTypes: [...plain.requestTypes].sort(),
    };
  }
}

/**
 * Spaces calls evenly at `ratePerSecond`: each call reserves the next free slot, at least `1000 / ratePerSecond` ms
 * after the previous one (no bursts). A trainer client waits for its slot before sending; a call whose slot lies
 * beyond its own deadline is refused at once with a `LimitError` instead of waiting (so calls waiting for slots are
 * bounded by rate × deadline).
 */
export class RateLimiter {
  private next = Number.NEGATIVE_INFINITY;
  /** Milliseconds between two slots. */
  readonly intervalMs: number;

  /**
   * @param ratePerSecond calls per second, positive
   * @param now clock in milliseconds (tests pass a fake one) @default performance.now
   */
  constructor(
    readonly ratePerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0) fail('rateLimit', 'must be a positive number');
    this.intervalMs = 1000 / ratePerSecond;
  }

  /**
   * Reserves the next slot. Returns the milliseconds to wait before the call may go (0: at once), or `undefined`
   * when that wait would exceed `maxWaitMs` (then nothing is reserved).
   */
  reserve(maxWaitMs = Number.POSITIVE_INFINITY): number | undefined {
    const t = this.now();
    const slot = Math.max(t, this.next);
    const wait = slot - t;
    if (wait > maxWaitMs) return undefined;
    this.next = slot + this.intervalMs;
    return wait;
  }
}
