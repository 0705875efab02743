/**
 * Actors of the actor–learner example, for running on an edge device: they play CartPole with the latest weights the
 * learner broadcasts and send their episodes to it. They stop when the learner announces it is done (or after
 * --seconds). Start the learner first (examples/trainer-learner.ts).
 *
 *     npx tsx examples/trainer-actor.ts --host <learner address> --port 5555 --actors 2
 */
import { parseArgs } from 'node:util';
import { TrainerClient } from '../src/index.js';
import { makeConfig, type PolicyWeights, runActor } from './actor-learner.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '5555' },
    actors: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '300' },
    seed: { type: 'string', default: String(process.pid) },
  },
});
const port = Number(values.port);
const config = makeConfig(port, port + 1);
const deadline = Date.now() + Number(values.seconds) * 1000;
const clients = await Promise.all(
  Array.from({ length: Number(values.actors) }, () =>
    TrainerClient.connect<PolicyWeights>(values.host, config, { connectTimeoutMs: 10_000 }),
  ),
);
console.log(`[actors] ${clients.length} connected to ${values.host}:${port}`);
const progress = setInterval(() => {
  clients[0]
    ?.request('progress')
    .then((p) => console.log('[actors] learner progress:', p))
    .catch(() => undefined);
}, 5000);
const sent = await Promise.all(
  clients.map((c, id) => runActor(c, { id, seed: Number(values.seed) * 16 + id, until: () => Date.now() > deadline })),
);
clearInterval(progress);
console.log(`[actors] done: ${sent.join(' + ')} episodes sent, last weights v${clients[0]?.weightsVersion ?? 0}`);
await Promise.all(clients.map((c) => c.close()));
