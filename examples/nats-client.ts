/**
 * Calls the `detector` service of examples/nats-worker.ts and prints how the calls were spread over the workers.
 *
 * Options: --url nats://127.0.0.1:4222/detector, --calls 100
 */
import { parseArgs } from 'node:util';
import 'edgeml/nats';
import { InferenceClient } from 'edgeml';

const { values } = parseArgs({ options: { url: { type: 'string' }, calls: { type: 'string', default: '100' } } });
const url = values.url ?? 'nats://127.0.0.1:4222/detector';
const client = await InferenceClient.connect(url, { timeoutMs: 5000 });
const byWorker = new Map<string, number>();
for (let i = 0; i < Number(values.calls); i++) {
  const { worker } = (await client.call('detect', { frame: i })) as { worker: string };
  byWorker.set(worker, (byWorker.get(worker) ?? 0) + 1);
}
console.log(`${values.calls} calls to ${url}:`, Object.fromEntries(byWorker));
await client.close();
