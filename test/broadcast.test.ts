/**
 * Publisher/Subscriber over real ZeroMQ sockets: bursts, slow and stalled subscribers, epochs, status, bad input.
 * Transport-independent semantics are in conformance.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { tcpEndpoint } from '../src/core/endpoint.js';
import { ClosedError, InvalidArgumentError } from '../src/core/errors.js';
import {
  type Delivery,
  Publisher,
  type PublisherOptions,
  Subscriber,
  type SubscriberOptions,
} from '../src/messaging/broadcast.js';
import { Tensor } from '../src/tensor/tensor.js';
import type { ConnectionStatus } from '../src/transport/types.js';
import { ZmqTransport } from '../src/transport/zmq/zmq-transport.js';
import { encodePublish } from '../src/wire/envelopes.js';
import { HOST, waitFor } from './helpers.js';

const transport = new ZmqTransport();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function publisher(port = 0, options?: PublisherOptions): Promise<Publisher> {
  const pub = new Publisher(options);
  await pub.start([{ transport, endpoint: tcpEndpoint(HOST, port) }]);
  cleanups.push(() => pub.stop());
  return pub;
}

function subscriber<T = unknown>(
  port: number,
  topics: string[],
  onMessage: (d: Delivery<T>) => void | Promise<void>,
  options?: SubscriberOptions,
): Subscriber<T> {
  const sub = new Subscriber<T>(transport, tcpEndpoint(HOST, port), topics, onMessage, options);
  cleanups.push(() => sub.close());
  return sub;
}

describe('broadcast over zmq', () => {
  it('a burst far over the high-water mark reaches a subscriber that keeps up, newest message included', async () => {
    const pub = await publisher();
    const seqs: number[] = [];
    const sub = subscriber<number>(pub.port!, ['burst'], (d) => void seqs.push(d.seq), { queueSize: 10_000 });
    await waitFor(() => pub.stats().subscriptions >= 1, 'the subscription');
    for (let v = 1; v <= 500; v++) pub.publish('burst', v);
    await waitFor(() => sub.latest('burst')?.seq === 500, 'the last message of the burst');
    await waitFor(() => seqs.length === 500, 'every message to be delivered');
    expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(sub.stats().dropped).toBe(0);
  });

  it('one message on each of many topics at once: every topic’s value arrives', async () => {
    const pub = await publisher();
    const topics = Array.from({ length: 100 }, (_, i) => `layer${i}`);
    const got = new Map<string, number>();
    subscriber<number>(pub.port!, topics, (d) => void got.set(d.topic, d.payload), { queueSize: 1000 });
    await waitFor(() => pub.stats().subscriptions >= topics.length, 'all subscriptions');
    for (const [i, t] of topics.entries()) pub.publish(t, i);
    await waitFor(() => got.size === topics.length, 'a value for every topic');
    for (const [i, t] of topics.entries()) expect(got.get(t)).toBe(i);
  });

  it('a subscriber that stopped reading does not block publishing to the others', async () => {
    // Heartbeats off: they would eventually drop the stalled peer, which is not what is tested here.
    const pub = await publisher(0, { heartbeatMs: 0 });
    // A raw SUB socket that subscribes and then never reads: its queues fill up.
    const stalled = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 1 });
    cleanups.push(() => stalled.close());
    stalled.connect(`tcp://${HOST}:${pub.port}`);
    stalled.subscribe('frames');
    const marks: string[] = [];
    subscriber<string>(pub.port!, ['mark'], (d) => void marks.push(d.payload));
    await waitFor(() => pub.stats().subscriptions >= 2, 'both subscriptions');
    const frame = new Uint8Array(1 << 20);
    // 64 MiB: far more than the stalled socket's queues and kernel buffers hold.
    for (let i = 0; i < 64; i++) pub.publish('frames', frame);
    pub.publish('mark', 'after the frames');
    await waitFor(() => marks.length === 1, 'the message published after the frames', 20_000);
    expect(marks).toEqual(['after the frames']);
  });

  it('delivers tensors and typed arrays with their types', async () => {
    const pub = await publisher();
    const got: Delivery<{ w: Tensor; ids: BigInt64Array }>[] = [];
    subscriber<{ w: Tensor; ids: BigInt64Array }>(pub.port!, ['weights'], (d) => void got.push(d));
    await waitFor(() => pub.stats().subscriptions >= 1, 'the subscription');
    pub.publish('weights', {
      w: new Tensor('float32', Float32Array.from([0.5, -1, 2, 3]), [2, 2]),
      ids: BigInt64Array.from([1n, 2n ** 60n]),
    });
    await waitFor(() => got.length === 1, 'the weights');
    const { w, ids } = got[0]!.payload;
    expect(w).toBeInstanceOf(Tensor);
    expect(w.shape).toEqual([2, 2]);
    expect([...w.data]).toEqual([0.5, -1, 2, 3]);
    expect(ids).toBeInstanceOf(BigInt64Array);
    expect([...ids]).toEqual([1n, 2n ** 60n]);
  });

  it('a new publisher on the same port (new epoch) is not mistaken for duplicates', async () => {
    const first = new Publisher();
    const [port] = (await first.start([{ transport, endpoint: tcpEndpoint(HOST, 0) }])) as [number];
    let firstStopped = false;
    cleanups.push(() => (firstStopped ? undefined : first.stop()));
    const got: Delivery<string>[] = [];
    const statuses: ConnectionStatus[] = [];
    const sub = subscriber<string>(port, ['t'], (d) => void got.push(d), { onStatus: (s) => statuses.push(s) });
    await waitFor(() => first.stats().subscriptions >= 1, 'the subscription');
    first.publish('t', 'a1');
    first.publish('t', 'a2');
    await waitFor(() => got.length === 2, 'the first publisher’s messages');
    expect(statuses[0]).toBe('connected');
    await first.stop();
    firstStopped = true;
    await waitFor(() => statuses.includes('disconnected'), 'the subscriber to see the publisher go');

    const second = await publisher(port);
    expect(second.epoch).not.toBe(first.epoch);
    await waitFor(() => second.stats().subscriptions >= 1, 'the subscriber to reconnect');
    second.publish('t', 'b1');
    await waitFor(() => got.length === 3, 'the new publisher’s first message');
    expect(got.map((d) => d.payload)).toEqual(['a1', 'a2', 'b1']);
    expect(got[2]!.seq).toBe(1);
    expect(got[2]!.epoch).toBe(second.epoch);
    expect(sub.stats().duplicates).toBe(0);
    sub.close();
    expect(statuses.at(-1)).toBe('closed');
  });

  it('a callback that throws is reported through onError and the subscriber goes on', async () => {
    const pub = await publisher();
    const errors: unknown[] = [];
    const got: number[] = [];
    const sub = subscriber<number>(
      pub.port!,
      ['x'],
      (d) => {
        if (d.payload === 1) throw new Error('callback failed');
        got.push(d.payload);
      },
      { onError: (e) => errors.push(e), queueSize: 10 },
    );
    await waitFor(() => pub.stats().subscriptions >= 1, 'the subscription');
    pub.publish('x', 1);
    pub.publish('x', 2);
    await waitFor(() => got.length === 1, 'the message after the failing one');
    expect(got).toEqual([2]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('callback failed');
    expect(sub.stats().callbackErrors).toBe(1);
  });

  it('counts and skips malformed messages from a foreign publisher, and keeps receiving', async () => {
    const raw = new zmq.XPublisher({ linger: 0 });
    cleanups.push(() => raw.close());
    await raw.bind(`tcp://${HOST}:0`);
    const port = Number(raw.lastEndpoint!.split(':').at(-1));
    const got: string[] = [];
    const sub = subscriber<string>(port, ['t'], (d) => void got.push(d.payload));
    await raw.receive(); // the subscription
    const good = encodePublish('t', 1, 'e', 'good');
    const send = (frames: (Uint8Array | string)[]): Promise<void> => raw.send(frames);
    await send(['t', Buffer.from([0xc1, 0xff, 0x00])]); // not msgpack
    await send(['t']); // no header
    await send(['t', encodePublish('other', 1, 'e', 'x')[0]!]); // topic of the envelope differs from the frame's
    await send(['t', Buffer.from([0x93, 1, 2, 3])]); // a header that is an array
    await send(['t', ...encodePublish('t', 1, 'e', new Uint8Array(4096)), Buffer.from('extra frame')]);
    await send(['t', ...good]);
    await waitFor(() => got.length === 1, 'the good message');
    expect(got).toEqual(['good']);
    expect(sub.stats().malformed).toBe(5);
  });

  it('rejects bad arguments and publishing while stopped', async () => {
    const pub = new Publisher();
    expect(() => pub.publish('t', 1)).toThrow(ClosedError);
    await pub.start([{ transport, endpoint: tcpEndpoint(HOST, 0) }]);
    cleanups.push(() => pub.stop());
    expect(() => pub.publish('', 1)).toThrow(InvalidArgumentError);
    expect(() => pub.publish('t', { f: () => 1 })).toThrow(InvalidArgumentError);
    expect(pub.latestSeq('t')).toBe(0);
    expect(() => new Subscriber(transport, tcpEndpoint(HOST, pub.port!), ['t'], () => {}, { queueSize: 0 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new Subscriber(transport, tcpEndpoint(HOST, pub.port!), [''], () => {})).toThrow(InvalidArgumentError);
  });
});
