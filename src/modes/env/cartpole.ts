/**
 * A small built-in environment: classic CartPole-v1 dynamics (Barto, Sutton and Anderson, as in Gymnasium), with a
 * seeded random generator so episodes are reproducible. Used by the remote-environment example and tests, and by any
 * code that needs an environment without a simulator.
 *
 * @module
 */
import { InvalidArgumentError } from '../../core/errors.js';

/** What one `step(action)` of an environment returns (Gymnasium's five-tuple as an object). */
export interface StepResult<O = number[]> {
  /** The observation after the step. */
  observation: O;
  /** Reward for the step. */
  reward: number;
  /** The episode ended in a terminal state (for CartPole: the pole fell or the cart left the track). */
  terminated: boolean;
  /** The episode was cut short by a time limit. */
  truncated: boolean;
  /** Extra diagnostics, plain data. */
  info: Record<string, unknown>;
}

/** Options of a {@link CartPole}. */
export interface CartPoleOptions {
  /** Seed of the random generator used by {@link CartPole.reset} when it gets no seed. @default 0 */
  seed?: number;
  /** Steps after which an episode is truncated. @default 500 */
  maxSteps?: number;
}

const GRAVITY = 9.8;
const MASS_CART = 1.0;
const MASS_POLE = 0.1;
const TOTAL_MASS = MASS_CART + MASS_POLE;
const LENGTH = 0.5; // half the pole's length
const POLE_MASS_LENGTH = MASS_POLE * LENGTH;
const FORCE_MAG = 10.0;
const TAU = 0.02; // seconds between state updates
const THETA_THRESHOLD = (12 * 2 * Math.PI) / 360;
const X_THRESHOLD = 2.4;

/** mulberry32: a small, fast 32-bit seeded generator; returns a function giving floats in [0, 1). Internal. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkSeed(seed: unknown): asserts seed is number {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new InvalidArgumentError('seed', 'must be an integer');
}

/**
 * CartPole-v1: a pole hinged on a cart that moves along a frictionless track. Action 0 pushes the cart left, 1 pushes
 * it right (10 N). The observation is `[x, xDot, theta, thetaDot]`. Every step gives reward 1; the episode terminates
 * when `|x| > 2.4` or `|theta| > 12°`, and is truncated after `maxSteps` steps. Integration is explicit Euler with
 * `tau = 0.02 s`.
 *
 * `reset(seed)` reseeds the generator; `reset()` continues the generator's sequence, so a `CartPole` built with the
 * same seed replays the same episodes.
 *
 * @example
 * ```ts
 * const env = new CartPole({ seed: 1 });
 * let obs = env.reset();
 * for (;;) {
 *   const { observation, terminated, truncated } = env.step(obs[2]! > 0 ? 1 : 0);
 *   obs = observation;
 *   if (terminated || truncated) break;
 * }
 * ```
 */
export class CartPole {
  /** Length of an observation. */
  readonly observationSize = 4 as const;
  /** Number of discrete actions (0 = left, 1 = right). */
  readonly actionCount = 2 as const;
  private readonly maxSteps: number;
  private random: () => number;
  private state: [number, number, number, number] = [0, 0, 0, 0];
  private steps = 0;
  private needsReset = true;

  constructor(options: CartPoleOptions = {}) {
    const seed = options.seed ?? 0;
    checkSeed(seed);
    const maxSteps = options.maxSteps ?? 500;
    if (!Number.isInteger(maxSteps) || maxSteps < 1) {
      throw new InvalidArgumentError('maxSteps', 'must be a positive integer');
    }
    this.maxSteps = maxSteps;
    this.random = mulberry32(seed);
  }

  /** Starts a new episode: every state variable uniform in [-0.05, 0.05]. Returns the first observation. */
  reset(seed?: number): number[] {
    if (seed !== undefined) {
      checkSeed(seed);
      this.random = mulberry32(seed);
    }
    this.state = [this.uniform(), this.uniform(), this.uniform(), this.uniform()];
    this.steps = 0;
    this.needsReset = false;
    return [...this.state];
  }

  /**
   * Applies `action` (0 or 1) for one time step.
   * @throws {@link InvalidArgumentError} when the action is not 0 or 1, or when the episode has ended (or never began)
   * and {@link reset} was not called.
   */
  step(action: number): StepResult<number[]> {
    if (action !== 0 && action !== 1) throw new InvalidArgumentError('action', 'must be 0 or 1');
    if (this.needsReset) throw new InvalidArgumentError('action', 'the episode has ended: call reset() first');
    let [x, xDot, theta, thetaDot] = this.state;
    const force = action === 1 ? FORCE_MAG : -FORCE_MAG;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const temp = (force + POLE_MASS_LENGTH * thetaDot * thetaDot * sin) / TOTAL_MASS;
    const thetaAcc = (GRAVITY * sin - cos * temp) / (LENGTH * (4.0 / 3.0 - (MASS_POLE * cos * cos) / TOTAL_MASS));
    const xAcc = temp - (POLE_MASS_LENGTH * thetaAcc * cos) / TOTAL_MASS;
    x += TAU * xDot;
    xDot += TAU * xAcc;
    theta += TAU * thetaDot;
    thetaDot += TAU * thetaAcc;
    this.state = [x, xDot, theta, thetaDot];
    this.steps++;
    const terminated = x < -X_THRESHOLD || x > X_THRESHOLD || theta < -THETA_THRESHOLD || theta > THETA_THRESHOLD;
    const truncated = !terminated && this.steps >= this.maxSteps;
    if (terminated || truncated) this.needsReset = true;
    return { observation: [...this.state], reward: 1, terminated, truncated, info: { steps: this.steps } };
  }

  private uniform(): number {
    return this.random() * 0.1 - 0.05;
  }
}
