/**
 * The NATS framing, chunking, control messages and subjects (docs/protocol.md, "NATS mapping") against the golden
 * vectors of `nats-vectors.json`, and what a receiver must refuse.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseEndpoint } from '../../src/core/endpoint.js';
import {
  chunkCount,
  decodeChunk,
  decodeGo,
  decodeMessage,
  decodeSubscribe,
  encodeChunk,
  encodeControl,
  encodeMessage,
  KIND,
} from '../../src/transport/nats/framing.js';
import { Reassembler } from '../../src/transport/nats/reassembly.js';
import { Subjects, serviceOf } from '../../src/transport/nats/subjects.js';

interface NatsVectors {
  messages: { name: string; frames: string[]; body: string }[];
  chunks: { name: string; body: string; id: string; maxBody: number; chunks: string[] }[];
  controls: { name: string; body: string }[];
  subjects: {
    prefix: string;
    service: string;
    request: string;
    queue: string;
    server: string;
    inbox: string;
    topics: Record<string, string>;
    subscribe: string;
    events: Record<'up' | 'down' | 'pubup' | 'pubdown', string>;
  };
}

const here = dirname(fileURLToPath(import.meta.url));
const v = JSON.parse(readFileSync(join(here, 'nats-vectors.json'), 'utf8')) as NatsVectors;
const bytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

describe('NATS golden vectors', () => {
  it.each(v.messages.map((m) => [m.name, m]))('message %s encodes and decodes exactly', (_n, m) => {
    expect(hex(encodeMessage(m.frames.map(bytes)))).toBe(m.body);
    expect(decodeMessage(bytes(m.body), 1024).map(hex)).toEqual(m.frames);
  });

  it.each(v.chunks.map((c) => [c.name, c]))('chunks %s split and reassemble exactly', (_n, c) => {
    const body = bytes(c.body);
    const n = chunkCount(body.length, c.maxBody);
    const chunks = Array.from({ length: n }, (_, i) => hex(encodeChunk(body, bytes(c.id), i, c.maxBody)));
    expect(chunks).toEqual(c.chunks);
    const r = new Reassembler(1024, 1000);
    const out = c.chunks.map((h) => r.add('peer', decodeChunk(bytes(h))));
    expect(out.slice(0, -1).every((x) => x === undefined)).toBe(true);
    expect(hex(out.at(-1)!)).toBe(c.body);
    expect(r.heldBytes).toBe(0);
  });

  it('control messages', () => {
    const c = Object.fromEntries(v.controls.map((x) => [x.name, x.body]));
    expect(hex(encodeControl(KIND.probe))).toBe(c.probe);
    expect(hex(encodeControl(KIND.ack))).toBe(c.ack);
    expect(decodeSubscribe(bytes(c['subscribe-weights']!))).toBe('weights');
    expect(decodeGo(bytes(c.go!))).toEqual({ id: '0102030405060708', subject: v.subjects.server });
  });

  it('subjects', () => {
    const s = v.subjects;
    const subjects = new Subjects(s.prefix, serviceOf(parseEndpoint(`nats://h:4222/${s.service}`)));
    expect(subjects.request).toBe(s.request);
    expect(subjects.queue).toBe(s.queue);
    expect(subjects.server(s.server.split('.').at(-1)!)).toBe(s.server);
    expect(subjects.inbox(s.inbox.split('.').at(-1)!)).toBe(s.inbox);
    for (const [topic, subject] of Object.entries(s.topics)) expect(subjects.topic(topic)).toBe(subject);
    expect(subjects.subscribe).toBe(s.subscribe);
    for (const e of ['up', 'down', 'pubup', 'pubdown'] as const) expect(subjects.event(e)).toBe(s.events[e]);
    expect(serviceOf(parseEndpoint('nats://h:4222'))).toBe('default');
    expect(() => serviceOf(parseEndpoint('nats://h:4222/a/b'))).toThrow(/must name a service/);
  });
});

describe('NATS framing refuses', () => {
  const good = bytes(v.messages[1]!.body);
  it.each([
    ['an empty body', new Uint8Array(0)],
    ['another kind', Uint8Array.of(0x09, 1, 0, 0, 0)],
    ['zero frames', Uint8Array.of(1, 0, 0, 0, 0)],
    ['truncated lengths', good.subarray(0, 8)],
    ['a frame past the end', good.subarray(0, good.length - 1)],
    ['bytes after the last frame', Uint8Array.from([...good, 0])],
    ['a huge frame count', Uint8Array.of(1, 0xff, 0xff, 0xff, 0xff)],
  ])('%s', (_n, body) => {
    expect(() => decodeMessage(body, Number.MAX_SAFE_INTEGER)).toThrow();
  });

  it('reassembly: too large at the first chunk, out of order, silent past the timeout; senders kept apart', () => {
    const id = bytes('0102030405060708');
    const body = new Uint8Array(100).fill(7);
    const chunk = (i: number, b = body) => decodeChunk(encodeChunk(b, id, i, 21 + 30));
    const small = new Reassembler(50, 1000);
    expect(small.add('p', chunk(0))).toBeUndefined();
    expect(small.heldBytes).toBe(0);
    expect(small.stats.dropped).toBe(1);
    const r = new Reassembler(1000, 1000);
    r.add('p', chunk(0));
    r.add('p', chunk(2)); // chunk 1 missing: dropped
    expect(r.heldBytes).toBe(0);
    expect(r.add('p', chunk(3))).toBeUndefined();
    r.add('p', chunk(0));
    r.add('p', chunk(1));
    expect(r.heldBytes).toBe(60);
    r.sweep(Date.now() + 1001);
    expect(r.heldBytes).toBe(0);
    expect(r.stats.dropped).toBe(2);
    // The same id from two senders does not mix.
    for (let i = 0; i < 3; i++) r.add('a', chunk(i));
    for (let i = 0; i < 4; i++) r.add('b', chunk(i));
    expect(hex(r.add('a', chunk(3))!)).toBe(hex(body));
    r.close();
  });
});
