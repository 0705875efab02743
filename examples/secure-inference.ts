/**
 * CURVE security in one process: an inference server that accepts one client key, the client it accepts, and two
 * clients it refuses (an unknown key, and no security at all). Keys are written as key files first, as
 * `edgeml keygen` does, and loaded from those files. Prints what happens and ends by itself.
 *
 *   npx tsx examples/secure-inference.ts
 *
 * Across machines: run `edgeml keygen --name server` on the server and `edgeml keygen --name robot1` on the client,
 * copy server.key to the client and robot1.key to the server, and use the same options as below. See
 * docs/security.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthenticationError,
  InferenceClient,
  InferenceServer,
  type InferenceServerOptions,
  Tensor,
  writeKeyFiles,
} from '../src/index.js';

const dir = await mkdtemp(join(tmpdir(), 'edgeml-keys-'));
const server = join(dir, 'server');
const robot = join(dir, 'robot1');
const stranger = join(dir, 'stranger');
await writeKeyFiles(server);
const robotKeys = await writeKeyFiles(robot);
await writeKeyFiles(stranger);
console.log(`key files in ${dir}; robot1's public key is ${robotKeys.publicKey}`);

// The server: its key pair from its .key_secret file, and the public key files of the clients it lets in.
const options: InferenceServerOptions = {
  port: 0,
  security: { keyPair: `${server}.key_secret`, allowedClients: [`${robot}.key`] },
};
const inference = new InferenceServer(options);
inference.registerInterface('sum', (payload) => {
  const t = payload as Tensor<'float32'>;
  return { sum: t.data.reduce((a, b) => a + b, 0) };
});
await inference.start();
console.log(`server: CURVE on 127.0.0.1:${inference.port}, one client key allowed`);

const input = new Tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]);

// The allowed client: the server's public key file, and its own key pair.
const allowed = new InferenceClient('127.0.0.1', inference.port, {
  security: { serverPublicKey: `${server}.key`, keyPair: `${robot}.key_secret` },
});
console.log('robot1:', await allowed.call('sum', input, { timeoutMs: 5000 }));

// A client whose key the server does not list, and one without security: both are refused at once, not left to
// time out, and their calls never reach the handler.
const refused = [
  ['stranger', { security: { serverPublicKey: `${server}.key`, keyPair: `${stranger}.key_secret` } }],
  ['plain client', {}],
] as const;
for (const [name, clientOptions] of refused) {
  const client = new InferenceClient('127.0.0.1', inference.port, clientOptions);
  const started = performance.now();
  try {
    await client.call('sum', input, { timeoutMs: 5000 });
    console.log(`${name}: unexpectedly allowed`);
    process.exitCode = 1;
  } catch (e) {
    const ms = (performance.now() - started).toFixed(0);
    const kind = e instanceof AuthenticationError ? 'AuthenticationError' : `unexpected ${(e as Error).name}`;
    if (!(e instanceof AuthenticationError)) process.exitCode = 1;
    console.log(`${name}: ${kind} after ${ms} ms: ${(e as Error).message}`);
  }
  client.close();
}

console.log(`server answered ${inference.stats().requests} request(s)`);
allowed.close();
await inference.stop();
await rm(dir, { recursive: true, force: true });
