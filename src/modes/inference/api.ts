/**
 * Inference mode's types: typed interface maps, handlers and their context, and the method names on the wire.
 *
 * @module
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { ImageSpecs } from '../../image/payload.js';

/** Method names on the wire (docs/protocol.md, "Inference"). */
export const M_CALL = 'call';
/** @see M_CALL */
export const M_INTERFACES = 'interfaces';
/** @see M_CALL (protocol 1.2) */
export const M_DESCRIBE = 'describe';

/** What an interface declared about itself, as `describe` returns it. */
export interface InterfaceDescription {
  /** Payload keys whose images the interface wants in a given size and encoding (docs/protocol.md, "Methods"). */
  input?: ImageSpecs;
  /** Registered with `idempotent: true`: a client may send a timed-out call again (`call(..., { retry: 1 })`). */
  idempotent?: true;
}

/** One interface's request payload and reply. */
export interface InterfaceSpec {
  request: unknown;
  reply: unknown;
}

/**
 * A map of interface names to their request and reply types, for typed servers and clients:
 * `type Api = { classify: { request: { image: Tensor }; reply: { label: string } } }`.
 */
export type InferenceApi<A = Record<string, InterfaceSpec>> = { [K in keyof A]: InterfaceSpec };

/** The untyped API: any interface name, any payload, an `unknown` reply. */
export type UntypedApi = Record<string, InterfaceSpec>;

/** What a handler gets besides the payload. */
export interface HandlerContext {
  /** The interface called. */
  name: string;
  /** Identity of the calling peer, stable for one connection. */
  peer: string;
  /** Aborts when the call is abandoned (its deadline passed, or the server stops). */
  signal: AbortSignal;
}

/** An inference handler: gets the payload a client sent, returns (or resolves to) the result. */
export type InferenceHandler<Req = unknown, Rep = unknown> = (payload: Req, ctx: HandlerContext) => Rep | Promise<Rep>;

/**
 * A batched inference handler: gets the payloads of several concurrent calls, returns (or resolves to) one result per
 * payload in the same order. An `Error` in the results rejects only that caller; a throw rejects the whole batch.
 */
export type BatchInferenceHandler<Req = unknown, Rep = unknown> = (
  payloads: Req[],
) => (Rep | Error)[] | Promise<(Rep | Error)[]>;

/** @throws {@link InvalidArgumentError} unless `name` is a non-empty string */
export function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError('name', 'interface names are non-empty strings');
  }
}
