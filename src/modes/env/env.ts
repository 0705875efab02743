/**
 * Remote environments: an {@link EnvServer} serves any environment object with `reset()` / `step(action)` (a
 * simulator, a robot, the built-in {@link CartPole}) over the action mode, and a {@link RemoteEnv} drives it from
 * another machine as if it were local.
 *
 * Convention on top of the action mode (so a plain `ActionClient` can drive an env server too): observation key
 * `observation` (the latest observation), action keys `reset` (payload `{ seed? }`, returns what the env's `reset`
 * returned) and `step` (payload: the action, returns `{ observation, reward, terminated, truncated, info }`).
 *
 * @module
 */

import { InvalidArgumentError, ProtocolError } from '../../core/errors.js';
import type { CallOptions } from '../../messaging/rpc-client.js';
import { ActionClient } from '../action/client.js';
import type { ActionClientOptions, ActionConfigInit, ActionServerOptions } from '../action/config.js';
import { ActionServer } from '../action/server.js';
import type { StepResult } from './cartpole.js';

/** Observation key of an env server. */
export const ENV_OBSERVATION_KEY = 'observation';
/** Action key that resets the environment. */
export const ENV_RESET_KEY = 'reset';
/** Action key that steps the environment. */
export const ENV_STEP_KEY = 'step';

/**
 * What an {@link EnvServer} can serve: `reset(seed?)` returns the first observation, `step(action)` returns a
 * {@link StepResult} (or Gymnasium's five-tuple `[observation, reward, terminated, truncated, info]`). Either may be
 * async.
 */
export interface Environment<O = unknown, A = unknown> {
  reset(seed?: number): O | Promise<O>;
  step(action: A): StepResult<O> | [O, number, boolean, boolean, Record<string, unknown>] | Promise<unknown>;
}

/** The action-mode config of an env server on `port` (the convention of this module). */
export function envConfig(port: number, version?: string | number): ActionConfigInit {
  return {
    portNumber: port,
    observationKeys: [ENV_OBSERVATION_KEY],
    actionKeys: [ENV_RESET_KEY, ENV_STEP_KEY],
    ...(version !== undefined ? { version } : {}),
  };
}

/** Brings a step result into the {@link StepResult} shape, or says what is wrong with it. */
function toStepResult(value: unknown): StepResult<unknown> {
  if (Array.isArray(value) && value.length === 5) {
    const [observation, reward, terminated, truncated, info] = value as unknown[];
    return toStepResult({ observation, reward, terminated, truncated, info });
  }
  const r = value as Partial<StepResult<unknown>> | null;
  if (
    !r ||
    typeof r !== 'object' ||
    typeof r.reward !== 'number' ||
    typeof r.terminated !== 'boolean' ||
    typeof r.truncated !== 'boolean'
  ) {
    throw new ProtocolError(
      'step must return { observation, reward: number, terminated: boolean, truncated: boolean }',
    );
  }
  return {
    observation: r.observation,
    reward: r.reward,
    terminated: r.terminated,
    truncated: r.truncated,
    info: r.info && typeof r.info === 'object' ? r.info : {},
  };
}

/** Options of an {@link EnvServer}. */
export interface EnvServerOptions extends ActionServerOptions {
  /** Version compared by the handshake (clients must give the same). */
  version?: string | number;
}

/**
 * Serves an environment to {@link RemoteEnv}s. Calls are applied one at a time in arrival order, also for async
 * environments and several clients. An env that throws rejects that call with a `RemoteError`; the server goes on.
 *
 * @example
 * ```ts
 * const server = new EnvServer(new CartPole({ seed: 1 }), 5560, { host: '0.0.0.0' });
 * await server.start();
 * ```
 */
export class EnvServer<O = unknown, A = unknown> {
  private readonly server: ActionServer;
  private chain: Promise<unknown> = Promise.resolve();
  private last: O | undefined;

  /** @param port TCP port; 0 picks a free one (read it back from {@link port}). */
  constructor(
    private readonly env: Environment<O, A>,
    port: number,
    options: EnvServerOptions = {},
  ) {
    if (!env || typeof env.reset !== 'function' || typeof env.step !== 'function') {
      throw new InvalidArgumentError('env', 'must have reset() and step(action) methods');
    }
    const { version, ...serverOptions } = options;
    this.server = new ActionServer(
      envConfig(port, version),
      () => this.serial(() => ({ [ENV_OBSERVATION_KEY]: this.last ?? null })),
      (key: string, payload: unknown) =>
        key === ENV_RESET_KEY ? this.serial(() => this.reset(payload)) : this.serial(() => this.step(payload)),
      serverOptions,
    );
  }

  /** Runs `fn` after every call that arrived before it has finished. */
  private serial<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async reset(payload: unknown): Promise<O> {
    const seed = (payload as { seed?: unknown } | null | undefined)?.seed;
    if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed))) {
      throw new InvalidArgumentError('seed', 'must be an integer');
    }
    this.last = await (seed === undefined ? this.env.reset() : this.env.reset(seed));
    return this.last;
  }

  private async step(action: unknown): Promise<StepResult<unknown>> {
    const result = toStepResult(await this.env.step(action as A));
    this.last = result.observation as O;
    return result;
  }

  /** Starts serving; resolves once the port is bound. */
  start(): Promise<void> {
    return this.server.start();
  }

  /** Stops serving and releases the port. */
  stop(): Promise<void> {
    return this.server.stop();
  }

  /** The port served (the bound one once started). */
  get port(): number {
    return this.server.port;
  }
}

/** Options of {@link RemoteEnv.connect}. */
export interface RemoteEnvOptions extends ActionClientOptions {
  /** Version the server must have been given. */
  version?: string | number;
}

/**
 * An environment served by an {@link EnvServer} on another machine, with the local shape: `reset()` resolves with the
 * first observation, `step(action)` with `{ observation, reward, terminated, truncated, info }`.
 *
 * @example
 * ```ts
 * const env = await RemoteEnv.connect<number[], number>('sim.local', 5560);
 * let obs = await env.reset(42);
 * for (let done = false; !done; ) {
 *   const r = await env.step(policy(obs));
 *   obs = r.observation;
 *   done = r.terminated || r.truncated;
 * }
 * env.close();
 * ```
 */
export class RemoteEnv<O = unknown, A = unknown> {
  private constructor(private readonly client: ActionClient) {}

  /**
   * Connects to the env server at `host:port` and performs the handshake.
   * @throws {@link ConfigMismatchError} when the server is not an env server (or has another version),
   * {@link TimeoutError} when no server answers in time.
   */
  static async connect<O = unknown, A = unknown>(
    host: string,
    port: number,
    options: RemoteEnvOptions = {},
  ): Promise<RemoteEnv<O, A>> {
    const { version, ...rest } = options;
    const client = await ActionClient.connect(host, envConfig(port, version), rest);
    return new RemoteEnv<O, A>(client);
  }

  /** Resets the remote environment (with `seed` when given); resolves with the first observation. */
  reset(seed?: number, options?: CallOptions): Promise<O> {
    return this.client.act(ENV_RESET_KEY, seed === undefined ? {} : { seed }, options) as Promise<O>;
  }

  /** Applies `action`; resolves with the step's result. */
  step(action: A, options?: CallOptions): Promise<StepResult<O>> {
    return this.client.act(ENV_STEP_KEY, action, options) as Promise<StepResult<O>>;
  }

  /** The environment's latest observation (`null` before the first reset). */
  async observation(options?: CallOptions): Promise<O | null> {
    const r = (await this.client.obs([ENV_OBSERVATION_KEY], options)) as Record<string, O | null>;
    return r[ENV_OBSERVATION_KEY] ?? null;
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    await this.client.close();
  }

  /** Closes the connection (`await using env = ...`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
