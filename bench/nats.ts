/**
 * `npx tsx bench/nats.ts`: edgeml over NATS against raw nats.js request/reply of the same bytes, sequential round
 * trips on loopback (small, img224, cams4), with edgeml unchunked and chunked at 1 MB. Needs `nats-server` (PATH,
 * /usr/sbin or $NATS_SERVER); starts its own with `max_payload` 8 MB so that raw nats.js can carry cams4 at all.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import '../src/nats.js';
import { InferenceClient, InferenceServer, Tensor } from '../src/index.js';

const bin = [process.env.NATS_SERVER, '/usr/bin/nats-server', '/usr/sbin/nats-server'].find((p) => p && existsSync(p));
if (!bin) throw new Error('nats-server not found');
const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const a = s.address();
    s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
  });
});
const dir = mkdtempSync(join(tmpdir(), 'edgeml-nats-bench-'));
writeFileSync(join(dir, 'nats.conf'), `listen: 127.0.0.1:${port}\nmax_payload: 8388608\n`);
const child = spawn(bin, ['-c', join(dir, 'nats.conf')], { stdio: 'ignore' });
const url = `nats://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    await (await connect({ servers: `127.0.0.1:${port}` })).close();
    break;
  } catch (e) {
    if (i > 100) throw e;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sizes = {
  small: 16,
  img224: 224 * 224 * 3,
  cams4: 4 * 480 * 640 * 3,
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(n: number, f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(20, n); i++) await f();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

const raw = await connect({ servers: `127.0.0.1:${port}` });
raw.subscribe('raw.echo', { callback: (_e, m) => void m.respond(m.data) });
const server = new InferenceServer({ listen: `${url}/bench` });
server.registerInterface('echo', (p) => p);
await server.start();
const chunkedServer = new InferenceServer({ listen: `${url}/chunked`, nats: { chunkBytes: 1024 * 1024 } });
chunkedServer.registerInterface('echo', (p) => p);
await chunkedServer.start();
const client = await InferenceClient.connect(`${url}/bench`);
const chunked = await InferenceClient.connect(`${url}/chunked`, { nats: { chunkBytes: 1024 * 1024 } });

const rows: string[] = [
  '| payload | bytes | raw nats.js (ms) | edgeml (ms) | ratio | edgeml chunked 1 MB (ms) | ratio |',
  '|---|---|---|---|---|---|---|',
];
for (const [name, bytes] of Object.entries(sizes)) {
  const n = bytes > 1e6 ? 60 : 400;
  const data = new Uint8Array(bytes).fill(7);
  const tensor = new Tensor('uint8', data, [bytes]);
  const r = await time(n, () => raw.request('raw.echo', data, { timeout: 5000 }));
  const e = await time(n, () => client.call('echo', { t: tensor }));
  const c = await time(n, () => chunked.call('echo', { t: tensor }));
  rows.push(
    `| ${name} | ${bytes} | ${r.toFixed(3)} | ${e.toFixed(3)} | ${(e / r).toFixed(2)} | ${c.toFixed(3)} | ${(c / r).toFixed(2)} |`,
  );
}
console.log(rows.join('\n'));
await client.close();
await chunked.close();
await server.stop();
await chunkedServer.stop();
await raw.close();
child.kill('SIGTERM');
