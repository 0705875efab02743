// An InferenceServer for the Python clients: echo, raise <error class>, sleep, dtypes. Prints {"port": N}.
import { DTYPES, ERROR_CLASSES, edgeml, say, tensor, untilStdinCloses } from './common.js';

const server = new edgeml.InferenceServer({ port: 0, host: '127.0.0.1' });
server.registerInterface('echo', (p) => p);
server.registerInterface('raise', (p) => {
  const { cls, message } = p as { cls: string; message: string };
  throw ERROR_CLASSES[cls]!(message);
});
server.registerInterface('sleep', async (p) => {
  await new Promise((r) => setTimeout(r, Number(p)));
  return 'slept';
});
server.registerInterface('dtypes', () => Object.fromEntries(DTYPES.map((d) => [d, tensor(d, [2, 3])])));
await server.start();
say({ port: server.port });
await untilStdinCloses();
await server.stop();
