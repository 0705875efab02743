/**
 * The browser example: serves a camera page and, beside it, three edgeml servers over WebSocket (each also on
 * ZeroMQ): an inference server with a real face detector (`detect`), an action server streaming observations, and a
 * trainer publishing weights. The page (index.html, with `edgeml/browser`) sends camera frames, draws the boxes and
 * shows fps, latency, the observation stream and the weights version. Stop it with Ctrl-C.
 *
 *   npx edgeml example --browser [--port 8080]        (or: npx tsx examples/browser/server.ts --port 8080)
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBrowser } from '../../scripts/build-browser.js';
import { ActionServer, InferenceServer, Tensor, TrainerServer } from '../../src/index.js';
import { loadFaceDetector } from './face-detector.js';

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } } });
const host = values.host ?? '127.0.0.1';
const port = Number(values.port ?? 8080);

const bundle = readFileSync((await buildBrowser()).path);
const page = readFileSync(join(import.meta.dirname, 'index.html'));
const detect = await loadFaceDetector();

const inference = new InferenceServer({
  listen: [`ws://${host}:0/inference`, `tcp://${host}:0`],
  decodeImages: true, // JPEG frames from the page arrive decoded to uint8 HxWx3 tensors
});
inference.registerInterface('detect', async (payload) => {
  const { image } = payload as { image: Tensor<'uint8'> };
  const [height, width] = image.shape as [number, number, number];
  const faces = await detect(image.data, height, width);
  const boxes = new Float32Array(faces.flatMap((f) => [f.x, f.y, f.width, f.height, f.score]));
  return { boxes: new Tensor('float32', boxes, [faces.length, 5]) };
});

const KEYS = { observationKeys: ['battery', 'pose'], actionKeys: ['wave'] };
let battery = 100;
const pose = new Float32Array(3);
const action = new ActionServer(
  { portNumber: 0, broadcastPort: 0, ...KEYS },
  () => ({ battery, pose: new Tensor('float32', pose.slice(), [3]) }),
  (key, payload) => ({ done: key, payload }),
  { listen: [`ws://${host}:0/action`, `tcp://${host}:0`] },
);

const trainer = new TrainerServer(
  { dataTable: [{ name: 'frames', size: 64 }], portNumber: 0, broadcastPort: 0 },
  () => ({ stored: true }),
  undefined,
  { listen: [`ws://${host}:0/trainer`, `tcp://${host}:0`] },
);

await Promise.all([inference.start(), action.start(), trainer.start()]);

const timers = [
  setInterval(() => {
    battery = Math.max(0, battery - 0.1);
    const t = Date.now() / 1000;
    pose.set([Math.sin(t), Math.cos(t), t % 6.28]);
    action.publishObs({ battery: Math.round(battery * 10) / 10, pose: new Tensor('float32', pose.slice(), [3]) });
  }, 100),
  setInterval(
    () => trainer.publishWeights({ w: new Tensor('float32', new Float32Array(1024).fill(Math.random()), [1024]) }),
    2000,
  ),
];

const config = JSON.stringify({
  // Each server's first endpoint is its WebSocket one (port 0: a free port), so `.port` is the page's port.
  inference: `ws://${host}:${inference.port}/inference`,
  action: {
    url: `ws://${host}:${action.port}/action`,
    config: { portNumber: action.port, broadcastPort: action.broadcastPort, ...KEYS },
  },
  trainer: {
    url: `ws://${host}:${trainer.port}/trainer`,
    config: {
      dataTable: [{ name: 'frames', size: 64 }],
      portNumber: trainer.port,
      broadcastPort: trainer.broadcastPort,
    },
  },
});
const http = createServer((req, res) => {
  if (req.url === '/edgeml.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
  else if (req.url === '/config.json') res.writeHead(200, { 'content-type': 'application/json' }).end(config);
  else res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
});
await new Promise<void>((resolve) => http.listen(port, host, () => resolve()));
console.log(`edgeml browser example: open http://${host}:${port}/ (face detector on TensorFlow.js CPU; Ctrl-C stops)`);

const stop = async (): Promise<void> => {
  for (const t of timers) clearInterval(t);
  http.close();
  await Promise.all([inference.stop(), action.stop(), trainer.stop()]);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
