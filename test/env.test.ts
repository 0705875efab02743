/**
 * Remote environments: the built-in CartPole, and EnvServer/RemoteEnv driving it through whole episodes over real
 * ZeroMQ sockets on ephemeral loopback ports.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ActionClient,
  ConfigMismatchError,
  type Environment,
  EnvServer,
  InvalidArgumentError,
  RemoteEnv,
  RemoteError,
  type StepResult,
} from '../src/index.js';
import { CartPole } from '../src/testing.js';
import { HOST } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function serve<O, A>(env: Environment<O, A>): Promise<EnvServer<O, A>> {
  const server = new EnvServer(env, 0, { host: HOST });
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

async function remote<O = number[], A = number>(port: number): Promise<RemoteEnv<O, A>> {
  const env = await RemoteEnv.connect<O, A>(HOST, port, { connectTimeoutMs: 5000 });
  cleanups.push(() => env.close());
  return env;
}

/** A simple balancing policy: push the cart toward where the pole leans. */
const policy = (obs: number[]): number => ((obs[2] ?? 0) + (obs[3] ?? 0) > 0 ? 1 : 0);

/** Runs one episode on a local or remote env; returns the observations and the final step. */
async function episode(
  env: { reset(seed?: number): number[] | Promise<number[]>; step(a: number): StepResult | Promise<StepResult> },
  seed: number,
  act: (obs: number[], t: number) => number,
): Promise<{ observations: number[][]; last: StepResult; total: number }> {
  let obs = await env.reset(seed);
  const observations = [obs];
  let total = 0;
  for (let t = 0; ; t++) {
    const r = await env.step(act(obs, t));
    total += r.reward;
    obs = r.observation;
    observations.push(obs);
    if (r.terminated || r.truncated) return { observations, last: r, total };
  }
}

describe('CartPole', () => {
  it('is reproducible from its seed, and starts near upright', () => {
    const a = new CartPole({ seed: 7 }).reset();
    const b = new CartPole({ seed: 7 }).reset();
    const c = new CartPole({ seed: 8 }).reset();
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).toHaveLength(4);
    for (const v of a) expect(Math.abs(v)).toBeLessThanOrEqual(0.05);
    const env = new CartPole();
    expect(env.reset(7)).toEqual(a);
  });

  it('terminates when the pole falls, truncates at maxSteps, and gives reward 1 per step', async () => {
    const falling = await episode(new CartPole(), 1, () => 1);
    expect(falling.last.terminated).toBe(true);
    expect(falling.last.truncated).toBe(false);
    expect(falling.total).toBe(falling.observations.length - 1);
    const [x, , theta] = falling.last.observation;
    expect(Math.abs(x ?? 0) > 2.4 || Math.abs(theta ?? 0) > (12 * Math.PI) / 180).toBe(true);

    const balanced = await episode(new CartPole({ maxSteps: 50 }), 1, policy);
    expect(balanced.last).toMatchObject({ terminated: false, truncated: true, info: { steps: 50 } });
    expect(balanced.total).toBe(50);
  });

  it('follows the CartPole-v1 equations for one step', () => {
    const env = new CartPole();
    const [x, xDot, theta, thetaDot] = env.reset(3) as [number, number, number, number];
    const { observation } = env.step(1);
    const total = 1.1;
    const temp = (10 + 0.05 * thetaDot * thetaDot * Math.sin(theta)) / total;
    const thetaAcc =
      (9.8 * Math.sin(theta) - Math.cos(theta) * temp) / (0.5 * (4 / 3 - (0.1 * Math.cos(theta) ** 2) / total));
    const xAcc = temp - (0.05 * thetaAcc * Math.cos(theta)) / total;
    expect(observation[0]).toBeCloseTo(x + 0.02 * xDot, 12);
    expect(observation[1]).toBeCloseTo(xDot + 0.02 * xAcc, 12);
    expect(observation[2]).toBeCloseTo(theta + 0.02 * thetaDot, 12);
    expect(observation[3]).toBeCloseTo(thetaDot + 0.02 * thetaAcc, 12);
  });

  it('rejects bad actions and steps after the end of an episode', () => {
    const env = new CartPole({ maxSteps: 1 });
    expect(() => env.step(0)).toThrow(InvalidArgumentError);
    env.reset();
    expect(() => env.step(2)).toThrow(InvalidArgumentError);
    expect(env.step(0).truncated).toBe(true);
    expect(() => env.step(0)).toThrow(/reset/);
    expect(() => new CartPole({ maxSteps: 0 })).toThrow(InvalidArgumentError);
  });
});

describe('EnvServer and RemoteEnv', () => {
  it('drive a whole CartPole episode exactly as the local env does', async () => {
    const server = await serve(new CartPole());
    const env = await remote(server.port);
    expect(await env.observation()).toBeNull();
    const local = await episode(new CartPole(), 11, policy);
    const remoteRun = await episode(env, 11, policy);
    expect(remoteRun).toEqual(local);
    expect(remoteRun.last.truncated).toBe(true);
    expect(remoteRun.total).toBe(500);
    expect(await env.observation()).toEqual(local.observations.at(-1));
  });

  it('a failing step rejects that call with a RemoteError and the server goes on', async () => {
    const server = await serve(new CartPole({ seed: 1 }));
    const env = await remote(server.port);
    await env.reset();
    const err = await env.step(5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    const falling = await episode(env, 2, () => 0);
    expect(falling.last.terminated).toBe(true);
    const after = await env.step(0).catch((e: unknown) => e);
    expect((after as Error).message).toMatch(/reset/);
  });

  it('serves async environments returning Gymnasium tuples, one call at a time', async () => {
    let running = 0;
    let overlapped = false;
    let count = 0;
    const asyncEnv: Environment<{ count: number }, string> = {
      async reset() {
        count = 0;
        return { count };
      },
      async step(action) {
        running++;
        if (running > 1) overlapped = true;
        await new Promise((r) => setImmediate(r));
        running--;
        if (action === 'explode') throw new Error('boom');
        count++;
        return [{ count }, 0.5, false, count >= 10, { action }];
      },
    };
    const server = await serve(asyncEnv);
    const env = await remote<{ count: number }, string>(server.port);
    expect(await env.reset()).toEqual({ count: 0 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => env.step(`a${i}`)));
    expect(overlapped).toBe(false);
    expect(results.map((r) => r.observation.count)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(results[9]).toEqual({
      observation: { count: 10 },
      reward: 0.5,
      terminated: false,
      truncated: true,
      info: { action: 'a9' },
    });
    const err = await env.step('explode').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).message).toContain('boom');
  });

  it('refuses to drive a server that is not an env server', async () => {
    const server = await serve(new CartPole());
    const wrong = await ActionClient.connect(HOST, {
      portNumber: server.port,
      actionKeys: ['move'],
      observationKeys: ['observation'],
    }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ConfigMismatchError);
    expect((wrong as ConfigMismatchError).fields).toEqual(['actionKeys']);
  });
});
