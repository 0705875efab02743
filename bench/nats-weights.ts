/**
 * `npm run bench:nats-weights`: 100 MB weights from a trainer to 4 actors over NATS, the direct broadcast against
 * the object store (`objectStore`), each beside its raw nats.js floor measured in the same run (on connections with an edgeml link's options): for the broadcast, a
 * raw publish of the same bytes in `max_payload` chunks to 4 subscribers; for the object store, a raw `putBlob` and 4
 * concurrent `getBlob`s. Time: from publish to the last actor holding the weights. Median of REPS runs. Needs
 * `nats-server` (PATH, /usr/sbin or $NATS_SERVER); starts its own with JetStream and the default 1 MB `max_payload`.
 */
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import '../src/nats.js';
import { DataTable, Tensor, TrainerClient, TrainerConfig, TrainerServer } from '../src/index.js';
import { rawConnect, startNatsServer } from './nats-server.js';

const MB = Number(process.env.WEIGHTS_MB ?? 100);
const ACTORS = 4;
const REPS = Number(process.env.REPS ?? 3);

const nats = await startNatsServer({ maxPayload: 1024 * 1024, jetstream: true });
const servers = nats.hostPort;

const bytes = MB * 1024 * 1024;
const weights = new Float32Array(bytes / 4);
for (let i = 0; i < weights.length; i += 1024) weights[i] = i;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** edgeml: publish to ACTORS connected trainer clients, until each has version `v`. */
async function edgeml(service: string, objectStore: boolean): Promise<number[]> {
  const config = new TrainerConfig({ dataTable: [new DataTable({ name: 't', size: 1 })] });
  const url = `nats://${servers}/${service}`;
  const trainer = new TrainerServer(config, undefined, undefined, {
    listen: url,
    ...(objectStore ? { objectStore: { keep: 1 } } : {}),
  });
  await trainer.start();
  const actors = await Promise.all(Array.from({ length: ACTORS }, () => TrainerClient.connect(url, config)));
  const times: number[] = [];
  try {
    // Subscribe (and, for the store, see the bucket) before the first timed publish.
    const warm = actors.map((a) => a.waitForWeights(1, { timeoutMs: 120_000 }));
    trainer.publishWeights({ w: new Tensor('float32', new Float32Array(4), [4]) });
    await Promise.all(warm);
    for (let r = 0; r < REPS; r++) {
      const v = trainer.weightsVersion + 1;
      const got = actors.map((a) => a.waitForWeights(v, { timeoutMs: 120_000 }));
      const t = performance.now();
      trainer.publishWeights({ w: new Tensor('float32', weights, [weights.length]) });
      await Promise.all(got);
      times.push(performance.now() - t);
    }
  } finally {
    for (const a of actors) await a.close();
    await trainer.stop();
  }
  return times;
}

/** Raw nats.js: `bytes` in max_payload chunks to ACTORS subscribers, each reassembling. */
async function rawPublish(): Promise<number[]> {
  const pub = await rawConnect(servers);
  const subs: NatsConnection[] = await Promise.all(Array.from({ length: ACTORS }, () => rawConnect(servers)));
  const chunk = pub.info?.max_payload ?? 1024 * 1024;
  const count = Math.ceil(bytes / chunk);
  const times: number[] = [];
  const body = new Uint8Array(weights.buffer);
  for (let r = 0; r < REPS; r++) {
    const done = subs.map(
      (nc) =>
        new Promise<void>((resolve) => {
          const out = new Uint8Array(bytes);
          let n = 0;
          const sub = nc.subscribe(`raw.weights.${r}`, {
            callback: (_e, m) => {
              out.set(m.data, n * chunk);
              if (++n === count) {
                sub.unsubscribe();
                resolve();
              }
            },
          });
        }),
    );
    for (const nc of subs) await nc.flush();
    const t = performance.now();
    for (let i = 0; i < count; i++) {
      pub.publish(`raw.weights.${r}`, body.subarray(i * chunk, Math.min(bytes, (i + 1) * chunk)));
      if ((i + 1) % 8 === 0) await pub.flush();
    }
    await Promise.all(done);
    times.push(performance.now() - t);
  }
  for (const nc of [pub, ...subs]) await nc.close();
  return times;
}

/** Raw nats.js object store: one putBlob, then ACTORS concurrent getBlobs on their own connections. */
async function rawObjectStore(): Promise<number[]> {
  const pub = await rawConnect(servers);
  const readers = await Promise.all(Array.from({ length: ACTORS }, () => rawConnect(servers)));
  const os = await new Objm(pub).create('raw_weights', { storage: 'file' as never });
  const ros = await Promise.all(readers.map((nc) => new Objm(nc).open('raw_weights')));
  const body = new Uint8Array(weights.buffer);
  const times: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t = performance.now();
    await os.putBlob({ name: `v${r}`, options: { max_chunk_size: pub.info?.max_payload ?? 1024 * 1024 } }, body);
    const got = await Promise.all(ros.map((o) => o.getBlob(`v${r}`)));
    if (got.some((g) => g?.length !== bytes)) throw new Error('short read');
    times.push(performance.now() - t);
    await os.delete(`v${r}`);
  }
  for (const nc of [pub, ...readers]) await nc.close();
  return times;
}

try {
  const rows: [string, number, number][] = [];
  const rawPub = median(await rawPublish());
  const direct = median(await edgeml('direct', false));
  rows.push(['direct broadcast', rawPub, direct]);
  const rawObj = median(await rawObjectStore());
  const store = median(await edgeml('store', true));
  rows.push(['object store', rawObj, store]);
  console.log(
    `${MB} MB weights to ${ACTORS} actors over one nats-server (median of ${REPS}, ms, publish → last actor)`,
  );
  console.log('| path | raw nats.js | edgeml | ratio |');
  console.log('|---|---|---|---|');
  for (const [name, raw, ours] of rows) {
    console.log(`| ${name} | ${raw.toFixed(0)} | ${ours.toFixed(0)} | ${(ours / raw).toFixed(2)} |`);
  }
  console.log(`object store / direct broadcast (edgeml): ${(store / direct).toFixed(2)}`);
} finally {
  nats.stop();
}
