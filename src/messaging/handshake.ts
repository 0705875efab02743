/**
 * The config handshake shared by the action and trainer modes: a client sends its mode and config in a `hello`
 * request; the server compares them with its own, field by field in canonical form (independent of key order), and
 * answers with its config or a {@link ConfigMismatchError} naming the fields that differ.
 *
 * @module
 */
import { ConfigMismatchError, ProtocolError } from '../core/errors.js';
import type { CallOptions, RpcClient } from './rpc-client.js';
import type { RpcServer } from './rpc-server.js';

/** Method name of the handshake on the wire. */
export const M_HELLO = 'hello';

/** A config as compared by the handshake: plain data only. */
export type ConfigRecord = Readonly<Record<string, unknown>>;

/** Canonical JSON of a value: object keys sorted at every level, bigint as a decimal string. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}

/** Names of the top-level fields whose canonical forms differ between `a` and `b`, sorted. */
export function diffConfig(a: ConfigRecord, b: ConfigRecord): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of keys) if (canonicalJson(a[k]) !== canonicalJson(b[k])) out.push(k);
  return out.sort();
}

function describe(fields: readonly string[], client: ConfigRecord, server: ConfigRecord): string {
  return fields
    .map((f) => `${f} (client ${canonicalJson(client[f]) ?? 'unset'}, server ${canonicalJson(server[f]) ?? 'unset'})`)
    .join('; ');
}

/** Registers the server side of the handshake for `mode` with the server's `config`. */
export function serveHandshake(rpc: RpcServer, mode: string, config: ConfigRecord): void {
  rpc.handle(M_HELLO, (payload) => {
    const p = payload as { mode?: unknown; config?: unknown } | null;
    if (!p || typeof p !== 'object' || typeof p.config !== 'object' || p.config === null) {
      throw new ProtocolError('hello needs { mode, config }');
    }
    if (p.mode !== mode) {
      throw new ConfigMismatchError(`this server runs mode ${mode}, the client expects ${String(p.mode)}`, ['mode']);
    }
    const clientConfig = p.config as ConfigRecord;
    const fields = diffConfig(clientConfig, config);
    if (fields.length > 0) {
      throw new ConfigMismatchError(`config mismatch: ${describe(fields, clientConfig, config)}`, fields);
    }
    return { mode, config };
  });
}

/**
 * Performs the client side of the handshake.
 * @throws {@link ConfigMismatchError} naming the differing fields, {@link TimeoutError} when no server answers.
 */
export async function handshake(
  rpc: RpcClient,
  mode: string,
  config: ConfigRecord,
  options?: CallOptions,
): Promise<void> {
  await rpc.call(M_HELLO, undefined, { mode, config }, options);
}
