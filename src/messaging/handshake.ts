/**
 * The config handshake shared by the action and trainer modes: a client sends its mode and config in a `hello`
 * request; the server compares them with its own, field by field in canonical form (independent of key order), and
 * answers with its config or a {@link ConfigMismatchError} naming the fields that differ.
 *
 * @module
 */
import { DEFAULT_MAX_CONFIG_BYTES } from '../core/defaults.js';
import { ConfigMismatchError, LimitError, ProtocolError } from '../core/errors.js';
import { peerText, truncateText } from '../core/peer-text.js';
import { isTensor } from '../tensor/tensor.js';
import type { CallOptions, RpcClient } from './rpc-client.js';
import type { RpcServer } from './rpc-server.js';

/** Method name of the handshake on the wire. */
export const M_HELLO = 'hello';

/** A config as compared by the handshake: plain data only. */
export type ConfigRecord = Readonly<Record<string, unknown>>;

/** Differing fields a mismatch message describes (all of them are in the error's `fields`). */
const DESCRIBED_FIELDS = 5;

function hex(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('hex');
}

/**
 * Canonical form of a value, for comparing configs: object keys sorted at every level, bigint as a decimal string,
 * byte strings, typed arrays and tensors by their kind, length and bytes (never as objects with one key per element).
 * `undefined` for `undefined` (an unset field); object properties holding `undefined` are left out.
 *
 * The work is bounded by `maxBytes`: the form's size (characters of strings, keys and punctuation, bytes of binary
 * data) is counted as it is built, and past `maxBytes` a {@link LimitError} is thrown before anything larger is
 * built or sorted.
 * @throws {@link LimitError} when the form exceeds `maxBytes`
 */
export function canonicalJson(value: unknown, maxBytes = Number.POSITIVE_INFINITY): string | undefined {
  if (value === undefined) return undefined;
  let left = maxBytes;
  const spend = (n: number): void => {
    left -= n;
    if (left < 0) throw new LimitError(`config larger than ${maxBytes} bytes`);
  };
  const out: string[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 64) throw new LimitError('config nested more than 64 levels deep');
    switch (typeof v) {
      case 'string':
        spend(v.length + 2);
        out.push(JSON.stringify(v));
        return;
      case 'number':
      case 'boolean':
        spend(8);
        out.push(JSON.stringify(v));
        return;
      case 'bigint': {
        const text = v.toString();
        spend(text.length + 2);
        out.push(JSON.stringify(text));
        return;
      }
      case 'object':
        break;
      default:
        spend(4);
        out.push('null');
        return;
    }
    if (v === null) {
      spend(4);
      out.push('null');
      return;
    }
    if (isTensor(v)) {
      spend(v.data.byteLength + 16 + 8 * v.shape.length);
      out.push(`{"$tensor":${JSON.stringify([v.dtype, v.shape, hex(v.data)])}}`);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      spend(v.byteLength + 16);
      out.push(`{"$${v.constructor.name}":${v.byteLength}:"${hex(v)}"}`);
      return;
    }
    if (Array.isArray(v)) {
      spend(2 + v.length);
      out.push('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) out.push(',');
        if (v[i] === undefined) out.push('null');
        else walk(v[i], depth + 1);
      }
      out.push(']');
      return;
    }
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj);
    // Checked before sorting: a map of a million keys is refused, not sorted.
    spend(2 + 4 * keys.length);
    keys.sort();
    out.push('{');
    let first = true;
    for (const k of keys) {
      const item = obj[k];
      if (item === undefined) continue;
      spend(k.length);
      out.push(first ? '' : ',', JSON.stringify(k), ':');
      first = false;
      walk(item, depth + 1);
    }
    out.push('}');
  };
  walk(value, 0);
  return out.join('');
}

/**
 * Names of the top-level fields whose canonical forms differ between `a` and `b`, sorted. Each side's canonical form
 * is bounded by `maxBytes` (see {@link canonicalJson}).
 */
export function diffConfig(a: ConfigRecord, b: ConfigRecord, maxBytes = Number.POSITIVE_INFINITY): string[] {
  const ca = canonicalFields(a, maxBytes);
  const cb = canonicalFields(b, Number.POSITIVE_INFINITY);
  const keys = new Set([...ca.keys(), ...cb.keys()]);
  const out: string[] = [];
  for (const k of keys) if (ca.get(k) !== cb.get(k)) out.push(k);
  return out.sort();
}

/** The canonical form of each top-level field, all of them together within `maxBytes`. */
function canonicalFields(config: ConfigRecord, maxBytes: number): Map<string, string> {
  const keys = Object.keys(config);
  if (4 * keys.length > maxBytes) throw new LimitError(`config larger than ${maxBytes} bytes`);
  const out = new Map<string, string>();
  let left = maxBytes;
  for (const k of keys) {
    const form = canonicalJson(config[k], left - k.length);
    if (form === undefined) continue;
    left -= k.length + form.length;
    out.set(k, form);
  }
  return out;
}

function describe(fields: readonly string[], client: ConfigRecord, server: ConfigRecord): string {
  const side = (c: ConfigRecord, f: string): string => truncateText(canonicalJson(c[f]) ?? 'unset');
  const shown = fields
    .slice(0, DESCRIBED_FIELDS)
    .map((f) => `${truncateText(f)} (client ${side(client, f)}, server ${side(server, f)})`)
    .join('; ');
  return fields.length > DESCRIBED_FIELDS ? `${shown}; and ${fields.length - DESCRIBED_FIELDS} more` : shown;
}

/**
 * Registers the server side of the handshake for `mode` with the server's `config`. A client config whose canonical
 * form exceeds `maxConfigBytes` is refused with a {@link LimitError} before it is compared.
 */
export function serveHandshake(
  rpc: RpcServer,
  mode: string,
  config: ConfigRecord,
  maxConfigBytes = DEFAULT_MAX_CONFIG_BYTES,
  extra?: () => Readonly<Record<string, unknown>>,
): void {
  rpc.handle(M_HELLO, (payload) => {
    const p = payload as { mode?: unknown; config?: unknown } | null;
    if (!p || typeof p !== 'object' || typeof p.config !== 'object' || p.config === null) {
      throw new ProtocolError('hello needs { mode, config }');
    }
    if (p.mode !== mode) {
      throw new ConfigMismatchError(`this server runs mode ${mode}, the client expects ${peerText(p.mode)}`, ['mode']);
    }
    const clientConfig = p.config as ConfigRecord;
    if (ArrayBuffer.isView(clientConfig) || Array.isArray(clientConfig)) {
      throw new ProtocolError('hello needs { mode, config } with config a map');
    }
    let fields: string[];
    try {
      fields = diffConfig(clientConfig, config, maxConfigBytes);
    } catch (e) {
      if (e instanceof LimitError) {
        throw new LimitError(`hello: the client's config exceeds ${maxConfigBytes} bytes (${e.message})`);
      }
      throw e;
    }
    if (fields.length > 0) {
      throw new ConfigMismatchError(`config mismatch: ${describe(fields, clientConfig, config)}`, fields);
    }
    // Fields beside mode and config tell the client more (the trainer's `weights`: where its weights are kept).
    return { ...extra?.(), mode, config };
  });
}

/**
 * Performs the client side of the handshake; resolves with the server's reply.
 * @throws {@link ConfigMismatchError} naming the differing fields, {@link TimeoutError} when no server answers.
 */
export async function handshake(
  rpc: RpcClient,
  mode: string,
  config: ConfigRecord,
  options?: CallOptions,
): Promise<Readonly<Record<string, unknown>>> {
  const reply = (await rpc.call(M_HELLO, undefined, { mode, config }, options)) as { mode?: unknown } | null;
  // docs/protocol.md, "Handshake": a reply is acceptance only from a server of the same mode.
  if (typeof reply !== 'object' || reply === null || reply.mode !== mode) {
    throw new ProtocolError(`hello: the server's reply does not name mode ${mode}`);
  }
  return reply as Record<string, unknown>;
}

/**
 * A client's handshake, done once: the first call that needs it starts it, later calls wait for the same one, and a
 * failed handshake is tried again by the next call.
 */
export class LazyHandshake {
  private ready: Promise<void> | undefined;
  /** The server's hello reply, once it accepted. */
  reply: Readonly<Record<string, unknown>> | undefined;

  constructor(
    private readonly rpc: RpcClient,
    private readonly mode: string,
    private readonly config: () => ConfigRecord,
    private readonly timeoutMs: number,
  ) {}

  /** Resolves once the server has accepted the config. */
  done(): Promise<void> {
    if (!this.ready) {
      this.ready = handshake(this.rpc, this.mode, this.config(), { timeoutMs: this.timeoutMs }).then((r) => {
        this.reply = r;
      });
      this.ready.catch(() => {
        this.ready = undefined;
      });
    }
    return this.ready;
  }
}

/**
 * Makes a client and completes its handshake, closing it again when the handshake fails (the `connect()` of the
 * action and trainer clients).
 */
export async function connected<C extends { close(): Promise<void> }>(
  client: C,
  ready: (c: C) => Promise<void>,
): Promise<C> {
  try {
    await ready(client);
  } catch (e) {
    await client.close();
    throw e;
  }
  return client;
}
