// A TypeScript client of python/examples/torch_server.py: several concurrent callers, prints the batch sizes seen.
// npx tsx python/examples/ts_client.ts [--port 5555] [--clients 8] [--calls 50]
import { InferenceClient, Tensor } from '../../src/index.js';

const arg = (name: string, d: number) => Number(process.argv[process.argv.indexOf(`--${name}`) + 1] ?? d) || d;
const port = arg('port', 5555);
const client = new InferenceClient('127.0.0.1', port, { timeoutMs: 10000 });
const batches: number[] = [];
const t = performance.now();
await Promise.all(
  Array.from({ length: arg('clients', 8) }, async () => {
    for (let i = 0; i < arg('calls', 50); i++) {
      const x = new Tensor(
        'float32',
        Float32Array.from({ length: 16 }, () => Math.random()),
        [16],
      );
      const r = (await client.call('classify', { x })) as { logits: Tensor; batch: number };
      if (r.logits.shape[0] !== 4) throw new Error('bad logits');
      batches.push(r.batch);
    }
  }),
);
const ms = performance.now() - t;
console.log(
  JSON.stringify({
    calls: batches.length,
    ms: Math.round(ms),
    meanBatch: batches.reduce((a, b) => a + b, 0) / batches.length,
  }),
);
client.close();
