// An ActionClient against a Python ActionServer (argv: port broadcastPort). The server has published before this
// client subscribes: the late joiner must still get the latest observation. Prints one JSON line.
import { edgeml, say } from './common.js';

const [port, broadcastPort] = process.argv.slice(2).map(Number);
const config = new edgeml.ActionConfig({
  portNumber: port!,
  broadcastPort: broadcastPort!,
  actionKeys: ['move', 'publish'],
  observationKeys: ['cam', 'state'],
});
const client = await edgeml.ActionClient.connect('127.0.0.1', config, { connectTimeoutMs: 10000 });
const out: Record<string, unknown> = {};
const o = (await client.obs(['cam'])) as { cam: edgeml.Tensor };
out.obs = o.cam instanceof edgeml.Tensor && o.cam.dtype === 'uint8' && o.cam.shape.join() === '4,5,3';
out.act = JSON.stringify(await client.act('move', { dx: 0.25 })) === '{"key":"move","payload":{"dx":0.25}}';
try {
  await client.obs(['nope']);
} catch (e) {
  out.unknownKey = (e as Error).name === 'NotFoundError';
}
const seen: number[] = [];
client.registerObsCallback((p) => void seen.push((p as { frame: number }).frame));
const deadline = Date.now() + 10000;
while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
out.lateJoiner = seen[0];
await client.act('publish', null);
while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
out.stream = seen;
try {
  const other = await edgeml.ActionClient.connect('127.0.0.1', config.with({ actionKeys: ['other'] }), {
    connectTimeoutMs: 5000,
  });
  await other.close();
} catch (e) {
  out.mismatch = (e as edgeml.ConfigMismatchError).fields;
}
say(out);
await client.close();
