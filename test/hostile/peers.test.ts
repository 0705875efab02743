/**
 * Issue 10, rows 5–8: peers and callbacks that never finish. Each test runs a real server in a child process
 * (test/fixtures/hostile-server.ts), attacks it with raw ZeroMQ sockets, and checks that the server is alive, that a
 * legitimate client is served during and after the attack, and that the server's RSS stays under a stated bound.
 *
 * - Row 5, a DEALER that sends requests and never reads the replies (before: 10,000 replies queued per connection,
 *   2.0 GB for one such peer): replies queue up to DEFAULT_REPLY_HWM per client, the rest are dropped and counted,
 *   and the client's requests are ignored for a while.
 * - Row 6, a subscriber re-subscribing to the weights topic thousands of times (before: each subscription re-sent the
 *   8 MiB weights to every subscriber, 14 GB in 10 s to a legitimate one): a subscription costs only the subscriber.
 * - Row 7, handlers throwing or rejecting with values that are not Errors (before: the process exited): RemoteError.
 * - Row 8, a handler that never settles (before: after 256 calls the client was locked out for good): calls are
 *   abandoned at handlerTimeoutMs and their slots freed.
 */

import { describe, expect, it, onTestFinished } from 'vitest';
import * as zmq from 'zeromq';
import { RemoteError } from '../../src/core/errors.js';
import { TrainerClient } from '../../src/modes/trainer/client.js';
import { encodeRequest } from '../../src/wire/envelopes.js';
import { HOST, waitFor } from '../helpers.js';
import { statsOf } from './attack.js';
import { RSS_BOUND_MB, startTarget } from './server.js';

describe('row 5: a client that never reads its replies', () => {
  it('costs the server a bounded queue; other clients are served; drops are counted', async () => {
    const t = await startTarget('inference');
    // Reads nothing, and holds as little as libzmq allows on its side, so the replies back up into the server.
    const reader = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 1, receiveBufferSize: 4096 });
    onTestFinished(() => reader.close());
    reader.connect(`tcp://${HOST}:${t.port}`);
    const REPLY = 256 * 1024;
    const COUNT = 4000; // 1 GB of replies if the server kept them all
    for (let id = 1; id <= COUNT; id++) await reader.send(encodeRequest(id, 'call', 'big', { bytes: REPLY }));
    await waitFor(
      async () => ((await statsOf(t.fixture)).rpc as { repliesDropped?: number }).repliesDropped! > 0,
      'replies to be dropped',
      30_000,
    );
    expect(await t.legit.call('call', 'echo', { token: 'legit' })).toEqual({ token: 'legit' });
    const stats = (await statsOf(t.fixture)).rpc as unknown as { repliesDropped: number; ignored: number };
    expect(stats.repliesDropped).toBeGreaterThan(0);
    expect(t.alive()).toBe(true);
    expect(t.memory().peakMB).toBeLessThan(RSS_BOUND_MB);
  });
});

describe('row 6: a subscriber that re-subscribes again and again', () => {
  it('makes the trainer send nothing to the other subscribers; a late joiner still gets the latest weights', async () => {
    const t = await startTarget('trainer');
    const WEIGHTS = 8 * 1024 * 1024;
    const config = {
      portNumber: t.port,
      broadcastPort: t.broadcastPort,
      dataTable: [{ name: 'steps', size: 1000 }],
      requestTypes: ['info'],
    };
    const actor = await TrainerClient.connect(HOST, config);
    onTestFinished(() => actor.close());
    const got: number[] = [];
    actor.onWeights((_w, { version }) => void got.push(version));
    t.fixture.send(`publish ${WEIGHTS}`);
    await waitFor(() => got.length === 1, 'the weights at the actor');

    const before = actor.weightsStats()!;
    const hostile = new zmq.XSubscriber({ linger: 0 });
    onTestFinished(() => hostile.close());
    hostile.connect(`tcp://${HOST}:${t.broadcastPort}`);
    // It reads what it gets (a reader that stalls is the stalled-subscriber case): this one only re-subscribes.
    void (async () => {
      for await (const _ of hostile) {
        // drained
      }
    })().catch(() => {});
    for (let i = 0; i < 5000; i++) {
      await hostile.send(Buffer.from('\x01weights'));
      await hostile.send(Buffer.from('\x00weights'));
    }
    // The marker: once the actor has it, every resend the subscriptions could have caused would be there too.
    t.fixture.send('publish 16');
    await waitFor(() => got.length === 2, 'the second weights at the actor');
    expect(got).toEqual([1, 2]);
    // No copy the attack caused reached the actor (before 0.2: one per subscription, thousands); at most its own
    // latest-value fetch may have crossed the stream.
    const after = actor.weightsStats()!;
    expect(after.received - before.received).toBe(1);
    expect(after.duplicates - before.duplicates).toBeLessThanOrEqual(1);
    const server = (await statsOf(t.fixture)) as unknown as { weights: { resent: number; subscriptions: number } };
    expect(server.weights.subscriptions).toBeGreaterThan(100);
    expect(server.weights.resent).toBeLessThanOrEqual(2); // at most the actor's own fetches
    // A late joiner fetches the latest over its own request connection.
    const late = await TrainerClient.connect(HOST, config);
    onTestFinished(() => late.close());
    expect((await late.waitForWeights(2, { timeoutMs: 10_000 })).version).toBe(2);
    expect(t.alive()).toBe(true);
    expect(t.memory().peakMB).toBeLessThan(RSS_BOUND_MB);
  });
});

describe('row 7: handlers that throw or reject with values that are not Errors', () => {
  it('give the caller a RemoteError with a safe message, sync and async, and the server goes on', async () => {
    const t = await startTarget('inference');
    const kinds = ['null-proto', 'bad-tostring', 'symbol-name', 'getter', 'undefined', 'string'];
    for (const kind of kinds.flatMap((k) => [k, `${k}-async`])) {
      const e = await t.legit.call('call', 'throw', { kind }).catch((x: unknown) => x);
      expect(e, kind).toBeInstanceOf(RemoteError);
      expect(typeof (e as Error).message).toBe('string');
    }
    expect(await t.legit.call('call', 'echo', { token: 'after' })).toEqual({ token: 'after' });
    expect(t.alive()).toBe(true);
  });
});

describe('row 8: a handler that never settles', () => {
  it('is abandoned at handlerTimeoutMs: its slots are freed, the same client is served again, nothing is kept', async () => {
    const t = await startTarget('inference', { handlerTimeoutMs: 500 });
    const calls = Array.from({ length: 300 }, () =>
      t.legit.call('call', 'hang', null, { timeoutMs: 5000 }).then(
        () => 'answered',
        (e: unknown) => (e as Error).name,
      ),
    );
    const outcomes = await Promise.all(calls);
    // 256 admitted (the per-client limit) and abandoned at 500 ms; the rest refused at once.
    expect(outcomes.filter((o) => o === 'TimeoutError')).toHaveLength(256);
    expect(outcomes.filter((o) => o === 'LimitError')).toHaveLength(44);
    expect(await t.legit.call('call', 'echo', { token: 'again' })).toEqual({ token: 'again' });
    const stats = (await statsOf(t.fixture)).rpc as unknown as { abandoned: number; inFlight: number };
    expect(stats.abandoned).toBe(256);
    expect(stats.inFlight).toBe(0);
    expect(t.alive()).toBe(true);
    expect(t.memory().peakMB).toBeLessThan(RSS_BOUND_MB);
  });
});

describe('row 9: four actors flooding the trainer', () => {
  it('cannot starve a fifth: its steps are admitted and trained on while theirs are refused beyond their share', async () => {
    const t = await startTarget('trainer', { trainMs: 5 });
    const config = {
      portNumber: t.port,
      broadcastPort: t.broadcastPort,
      dataTable: [{ name: 'steps', size: 1000 }],
      requestTypes: ['info'],
    };
    const flooders = await Promise.all([1, 2, 3, 4].map(() => TrainerClient.connect(HOST, config)));
    for (const f of flooders) onTestFinished(() => f.close());
    let stop = false;
    const refused = { flooders: 0 };
    const floods = flooders.map(async (f, i) => {
      while (!stop) {
        await Promise.all(
          Array.from({ length: 20 }, (_, j) =>
            f.trainStep('steps', { token: `flood-${i}-${j}` }).catch((e: unknown) => {
              if ((e as Error).name === 'LimitError') refused.flooders++;
              else throw e;
            }),
          ),
        );
      }
    });
    await waitFor(() => refused.flooders > 0, 'the flooders to fill the trainer');
    const fifth = await TrainerClient.connect(HOST, config);
    onTestFinished(() => fifth.close());
    // Every step of the fifth actor is admitted (before: 1 ok and 76 LimitErrors in 10 s).
    for (let i = 0; i < 20; i++)
      expect(await fifth.trainStep('steps', { token: `fifth-${i}` })).toEqual({ stored: true });
    stop = true;
    await Promise.all(floods);
    expect(refused.flooders).toBeGreaterThan(0);
    expect(t.callbacks().filter((l) => l.includes('fifth-'))).toHaveLength(20);
    expect(t.alive()).toBe(true);
    expect(t.memory().peakMB).toBeLessThan(RSS_BOUND_MB);
  });
});
