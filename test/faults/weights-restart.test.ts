/**
 * The trainer restarted (killed with SIGKILL, started again on the same ports) while a large weights broadcast is
 * in progress: subscribers end up with the newest weights from the new trainer (a new epoch), nothing crashes, and
 * no message is delivered twice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tcpEndpoint } from '../../src/core/endpoint.js';
import { type Delivery, TrainerClient, type WeightsMessage } from '../../src/index.js';
import { Subscriber } from '../../src/messaging/broadcast.js';
import { ZmqTransport } from '../../src/zmq.js';
import { faultTrainerConfig } from '../fixtures/fault-config.js';
import { HOST, latestVia, waitFor } from '../helpers.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { startServer } from './child.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const MB = 1024 * 1024;
type Weights = { gen: number; data: Uint8Array };

describe('faults: trainer restarted during a weights broadcast', () => {
  it('subscribers end up with the new trainer’s newest weights, each message delivered once', async () => {
    const first = await startServer(['trainer', 0, 0]);
    cleanups.push(() => first.server.kill());
    const [port, broadcastPort] = first.ports as [number, number];

    // A subscriber behind a fault proxy (so the test can catch the broadcast half-way), and an actor connected
    // directly through the trainer client.
    const proxy = new FaultProxy(HOST, broadcastPort);
    const proxyPort = await proxy.start();
    cleanups.push(() => proxy.close());
    const deliveries: Delivery<WeightsMessage<Weights>>[] = [];
    const transport = new ZmqTransport();
    const latest = latestVia(transport, port); // the trainer's request port answers `latest`
    cleanups.push(latest.close);
    const sub = new Subscriber<WeightsMessage<Weights>>(
      transport,
      tcpEndpoint(HOST, proxyPort),
      ['weights'],
      (d) => void deliveries.push(d),
      { fetchLatest: latest.fetchLatest },
    );
    cleanups.push(() => sub.close());
    const actor = await TrainerClient.connect<Weights>(HOST, faultTrainerConfig(port, broadcastPort));
    cleanups.push(() => actor.close());
    const actorGens: number[] = [];
    actor.registerCallback((w) => void actorGens.push(w.gen));

    first.server.send(`publish 1 ${MB}`);
    await waitFor(() => sub.latest('weights')?.payload.weights.gen === 1, 'the first weights at the subscriber');
    await waitFor(() => actor.latestWeights()?.weights.gen === 1, 'the first weights at the actor');
    const oldEpoch = sub.latest('weights')!.epoch;

    // A large broadcast, frozen half-way through the proxy, and the trainer killed meanwhile.
    const BIG = 64 * MB;
    const before = proxy.bytesDown;
    first.server.send(`publish 2 ${BIG}`);
    await waitFor(() => proxy.bytesDown - before > 4 * MB, 'the large broadcast to be under way');
    proxy.stall();
    expect(proxy.bytesDown - before).toBeLessThan(BIG);
    await first.server.kill();

    const second = await startServer(['trainer', port, broadcastPort]);
    cleanups.push(() => second.server.kill());
    expect(second.ports).toEqual([port, broadcastPort]);
    second.server.send(`publish 3 ${4 * MB}`);
    await second.server.line((l) => l.startsWith('published 3 '), 'the new trainer’s first weights');
    proxy.pass();

    await waitFor(() => sub.latest('weights')?.payload.weights.gen === 3, 'the new weights at the subscriber');
    const newest = sub.latest('weights')!;
    expect(newest.epoch).not.toBe(oldEpoch);
    expect(newest.payload.version).toBe(1);
    expect(newest.payload.weights.data.byteLength).toBe(4 * MB);
    expect(newest.payload.weights.data.every((b) => b === 3)).toBe(true);
    await waitFor(() => actor.latestWeights()?.weights.gen === 3, 'the new weights at the actor');
    expect(actor.latestWeights()!.weights.data.every((b) => b === 3)).toBe(true);

    // Each (epoch, seq) delivered once; the half-sent weights never delivered to the subscriber behind the proxy.
    const keys = deliveries.map((d) => `${d.epoch}/${d.seq}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(deliveries.map((d) => d.payload.weights.gen)).not.toContain(2);
    expect(sub.stats().malformed).toBe(0);
    expect(new Set(actorGens).size).toBe(actorGens.length);
    expect(actorGens.at(-1)).toBe(3);

    // The new trainer shuts down cleanly.
    expect(await second.server.end()).toBe(0);
    expect(second.server.stderr()).toBe('');
  });
});
