/**
 * Child process of the batching set: an edgeml {@link InferenceServer} running the {@link Classifier}, with interface
 * `single` (one call, one model run) and `batched` (dynamic batching: up to 32 calls per model run, waiting at most
 * 2 ms for a batch to fill). Sends `{ port, backend }` when ready; answers `{ stats: true }` with the batch sizes
 * formed so far.
 *
 * @module
 */
import { InferenceServer } from '../src/modes/inference/server.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { BATCH } from './batching.js';
import { onParentStop, toParent } from './children.js';
import { Classifier } from './model.js';
import { HOST } from './target-edgeml.js';

const model = await Classifier.create();
const server = new InferenceServer({ port: 0, host: HOST });
type Input = { image: Tensor<'uint8'> };
server.registerInterface('single', (payload) => model.predict([(payload as Input).image.data])[0]);
server.registerInterface('batched', (payloads) => model.predict(payloads.map((p) => (p as Input).image.data)), {
  batch: BATCH,
});
await server.start();
process.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && 'stats' in m) void toParent({ batches: server.stats().batches.batched });
});
onParentStop(() => server.stop());
void toParent({ port: server.port, backend: model.backend });
