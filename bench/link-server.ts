/**
 * Server side of the "link" set, run inside the server's network namespace by bench/link.ts: an InferenceServer on
 * loopback with the interfaces `raw` (tensor, not decoded), `jpeg` (an Image, decoded) and `small` (declares a 224 ×
 * 224 JPEG input, decoded), a `cpu` interface reporting this process's CPU time, and a relay that adds the link's
 * one-way delay in each direction (the kernel here has no netem; the rate is shaped by tbf on the veth). Prints
 * `{"ready": true}` once both listen; stops on SIGTERM.
 *
 * Usage: node link-server.js <listen host> <relay port> <delay ms>
 *
 * @module
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { type Image, InferenceServer, type Tensor } from '../src/index.js';

const [host = '127.0.0.1', relayPortArg = '5600', delayArg = '0'] = process.argv.slice(2);
const delayMs = Number(delayArg);

const server = new InferenceServer({ listen: 'tcp://127.0.0.1:0' });
server.registerInterface('raw', (p) => ({ n: (p as { image: Tensor }).image.size }));
const decode = async (p: unknown) => {
  const pixels = await (p as { image: Image }).image.decode();
  return { n: pixels.size };
};
server.registerInterface('jpeg', decode);
server.registerInterface('small', decode, {
  input: { image: { width: 224, height: 224, format: 'jpeg', quality: 80 } },
});
server.registerInterface('cpu', () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
});
await server.start();

/** Forwards each chunk `delayMs` later, in order (timers of one duration fire in the order they were set). */
function pipeDelayed(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (delayMs <= 0) to.write(chunk);
    else setTimeout(() => to.write(chunk), delayMs);
  });
  from.on('close', () => setTimeout(() => to.destroy(), delayMs));
  from.on('error', () => to.destroy());
}

const relay = createServer((client) => {
  client.setNoDelay(true);
  const upstream = tcpConnect(server.port, '127.0.0.1');
  upstream.setNoDelay(true);
  pipeDelayed(client, upstream);
  pipeDelayed(upstream, client);
});
await new Promise<void>((resolve) => relay.listen(Number(relayPortArg), host, resolve));
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

process.on('SIGTERM', () => {
  relay.close();
  void server.stop().then(() => process.exit(0));
});
