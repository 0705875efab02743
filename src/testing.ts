/**
 * `edgeml/testing`: helpers for tests and examples: the in-process transport (servers and clients in one process,
 * no sockets), the CartPole environment and a small seeded random number generator.
 *
 * @packageDocumentation
 */

export { CartPole, type CartPoleOptions, mulberry32, type StepResult } from './modes/env/cartpole.js';
export { defaultInprocTransport, InprocTransport } from './transport/inproc/inproc-transport.js';
