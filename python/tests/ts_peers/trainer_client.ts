// A TrainerClient (actor) against a Python TrainerServer (argv: the bound config as JSON). Prints one JSON line.
import { edgeml, say, tensor } from './common.js';

const config = new edgeml.TrainerConfig(JSON.parse(process.argv[2]!));
const client = await edgeml.TrainerClient.connect('127.0.0.1', config, { connectTimeoutMs: 10000 });
const out: Record<string, unknown> = {};
const steps = [];
for (let i = 0; i < 5; i++) steps.push(await client.trainStep('agent1', { i, obs: tensor('float32', [3]) }));
out.steps = steps;
out.request = await client.request('size', 'agent1');
try {
  await client.trainStep('nope', 1);
} catch (e) {
  out.unknownTable = (e as Error).name;
}
const got: unknown[] = [];
client.registerCallback((w) => void got.push((w as { tag: unknown }).tag));
const deadline = Date.now() + 10000;
while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
await client.request('publish', 'second');
while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
out.weights = got;
out.version = client.weightsVersion;
say(out);
await client.close();
