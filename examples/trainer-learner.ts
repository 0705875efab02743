/**
 * The learner of the actor–learner example, for running on the GPU machine. Actors join from other machines with
 * examples/trainer-actor.ts. Ends by itself when the policy is good enough (or after --seconds).
 *
 *     npx tsx examples/trainer-learner.ts --host 0.0.0.0 --port 5555     # broadcasts weights on port 5556
 */
import { parseArgs } from 'node:util';
import { makeLearner, runLearner } from './actor-learner.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '5555' },
    target: { type: 'string', default: '450' },
    seconds: { type: 'string', default: '300' },
  },
});
const port = Number(values.port);
const server = makeLearner(port, port + 1, values.host);
await server.start();
console.log(`[learner] listening on ${values.host}:${server.port}, weights on port ${server.broadcastPort}`);
console.log('[learner] waiting for actors: npx tsx examples/trainer-actor.ts --host <this machine> --port', port);
const summary = await runLearner(server, { target: Number(values.target), seconds: Number(values.seconds) });
console.log(
  `[learner] done in ${summary.seconds.toFixed(1)} s: ${summary.episodes} episodes, average return ` +
    `${summary.firstAverage.toFixed(1)} (first 50) -> ${summary.lastAverage.toFixed(1)} (last 50), ` +
    `weights v${summary.version}`,
);
// The last weights carry `done: true`; give actors a moment's grace by serving until they have had time to get them.
await new Promise((r) => setTimeout(r, 1000));
await server.stop();
