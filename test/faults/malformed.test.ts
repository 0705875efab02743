/**
 * Malformed input against a live InferenceServer: garbage over raw TCP, random and truncated ZeroMQ frames, headers
 * of the wrong shape, a wrong protocol version, oversized and too deeply nested messages, unknown methods. After every
 * attack a legitimate client must still get answers; where the request id can be read, the attacker gets an `err`
 * envelope back.
 */
import { connect as tcpConnect } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import {
  type ConnectionStatus,
  InferenceClient,
  InferenceServer,
  InvalidArgumentError,
  LimitError,
  ProtocolError,
  TimeoutError,
} from '../../src/index.js';
import { encodeMessage, type Frame } from '../../src/wire/codec.js';
import { decodeEnvelope, type Envelope, encodeRequest, errorFromWire } from '../../src/wire/envelopes.js';
import { HOST, waitFor, within } from '../helpers.js';

let server: InferenceServer;
let legit: InferenceClient;
let checks = 0;

beforeAll(async () => {
  server = new InferenceServer({ port: 0, host: HOST });
  server.registerInterface('echo', (p) => p);
  await server.start();
  legit = new InferenceClient(HOST, server.port, { timeoutMs: 10_000 });
});

afterAll(async () => {
  legit.close();
  await server.stop();
});

/** The legitimate client still gets answers. */
async function stillServing(): Promise<void> {
  const n = ++checks;
  expect(await legit.call('echo', { n })).toEqual({ n });
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** A raw DEALER that sends whatever frames it is given and reads envelopes back. */
function rawDealer(port = server.port): {
  send: (frames: (Frame | string)[]) => Promise<void>;
  /** Sends a valid ping with `id` after whatever was sent before, and returns every envelope up to its reply. */
  sync: (id: number) => Promise<Envelope[]>;
  next: () => Promise<Envelope>;
} {
  const dealer = new zmq.Dealer({ linger: 0 });
  dealer.connect(`tcp://${HOST}:${port}`);
  cleanups.push(() => dealer.close());
  const next = async (): Promise<Envelope> => decodeEnvelope(await within(dealer.receive(), 10_000, 'a reply'));
  return {
    send: (frames) => dealer.send(frames),
    next,
    sync: async (id) => {
      await dealer.send(encodeRequest(id, 'ping', undefined, null));
      const seen: Envelope[] = [];
      for (;;) {
        const env = await next();
        if (env.kind === 'rep' && env.id === id) return seen;
        seen.push(env);
      }
    },
  };
}

/** A ZMTP 3.0 greeting of a NULL-mechanism client. */
function zmtpGreeting(): Buffer {
  const g = Buffer.alloc(64);
  g[0] = 0xff;
  g[8] = 1; // libzmq reads the padding as a ZMTP 1.0 length and drops a peer that says 0
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 1;
  g.write('NULL', 12, 'ascii');
  return g;
}

/** A ZMTP READY command announcing a DEALER socket with an empty identity (as libzmq's DEALER sends it). */
function zmtpReady(): Buffer {
  const property = (name: string, value: string): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(value.length);
    return Buffer.concat([Buffer.from([name.length]), Buffer.from(name), len, Buffer.from(value)]);
  };
  const body = Buffer.concat([
    Buffer.from([5]),
    Buffer.from('READY'),
    property('Socket-Type', 'DEALER'),
    property('Identity', ''),
  ]);
  return Buffer.concat([Buffer.from([0x04, body.length]), body]);
}

/** One short ZMTP message frame. */
function zmtpFrame(body: Uint8Array, more = false): Buffer {
  if (body.length > 255) throw new Error('short frames only');
  return Buffer.concat([Buffer.from([more ? 0x01 : 0x00, body.length]), body]);
}

/**
 * Connects over raw TCP, writes `bytes`, ends, and resolves once the connection is closed. With `opening`, writes
 * that first and waits for the server's answer to it (`answerBytes`) before writing `bytes`.
 */
async function rawTcp(bytes: Uint8Array, opening?: { bytes: Uint8Array; answerBytes: number }): Promise<void> {
  const socket = tcpConnect(server.port, HOST);
  socket.on('error', () => {});
  let received = 0;
  let isClosed = false;
  socket.on('data', (d: Buffer) => {
    received += d.length;
  });
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  if (opening) {
    socket.write(opening.bytes);
    await waitFor(() => received >= opening.answerBytes || isClosed, 'the server’s answer to the opening');
    expect(isClosed).toBe(false);
  }
  socket.end(bytes);
  await within(closed, 10_000, 'the raw connection to close');
}

function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('malformed input: raw TCP', () => {
  it('survives random bytes over raw TCP', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 512 }), async (bytes) => {
        await rawTcp(bytes);
      }),
      { numRuns: 25 },
    );
    await stillServing();
  });

  it('survives a ZMTP greeting followed by garbage, and by a frame claiming a huge size', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 256 }), fc.boolean(), async (garbage, ready) => {
        // After the greeting exchange (64 bytes each way), or after the whole handshake (the server's READY: 43).
        const opening = ready
          ? { bytes: Buffer.concat([zmtpGreeting(), zmtpReady()]), answerBytes: 64 + 43 }
          : { bytes: zmtpGreeting(), answerBytes: 64 };
        await rawTcp(garbage, opening);
      }),
      { numRuns: 20 },
    );
    // A long frame claiming 2^62 bytes: refused on the size, nothing allocated.
    const huge = Buffer.alloc(9);
    huge[0] = 0x02;
    huge.writeBigUInt64BE(2n ** 62n, 1);
    await rawTcp(huge, { bytes: Buffer.concat([zmtpGreeting(), zmtpReady()]), answerBytes: 64 + 43 });
    await stillServing();
  });

  it('a completed ZMTP handshake followed by garbage frames reaches the server as malformed input', async () => {
    const before = server.stats().malformed;
    const garbage = zmtpFrame(Buffer.from([0xc1, 0xc1, 0xc1]));
    const notMsgpackMap = zmtpFrame(Buffer.from('hello'));
    const socket = tcpConnect(server.port, HOST);
    socket.on('error', () => {});
    let received = 0;
    socket.on('data', (d: Buffer) => {
      received += d.length;
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(Buffer.concat([zmtpGreeting(), zmtpReady()]));
    // The server's greeting (64 bytes) and READY: the handshake is done, messages may follow.
    await waitFor(() => received >= 64 + 43, 'the server’s side of the handshake');
    socket.write(Buffer.concat([garbage, notMsgpackMap]));
    await waitFor(() => server.stats().malformed >= before + 2, 'the garbage frames to reach the server');
    socket.end();
    await within(closed, 10_000, 'the raw connection to close');
    await stillServing();
  });
});

describe('malformed input: raw ZeroMQ frames', () => {
  it('survives random frame lists; every answer to them is an err envelope', async () => {
    const raw = rawDealer();
    let id = 1_000_000;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 96 }), { minLength: 1, maxLength: 5 }), async (frames) => {
        await raw.send(frames);
        for (const env of await raw.sync(++id)) expect(env.kind).toBe('err');
      }),
      { numRuns: 60 },
    );
    await stillServing();
  });

  it('answers truncated requests with an err envelope when their id can be read, and survives them all', async () => {
    const raw = rawDealer();
    const full = encodeRequest(77, 'call', 'echo', { image: new Float32Array(16), label: 'x'.repeat(40) });
    let id = 2_000_000;
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: full[0]!.byteLength - 1 }), fc.boolean(), async (cut, dropData) => {
        const frames = [full[0]!.subarray(0, cut), ...(dropData ? [] : full.slice(1))];
        await raw.send(frames);
        const seen = await raw.sync(++id);
        for (const env of seen) {
          expect(env.kind).toBe('err');
          if (env.kind === 'err') expect(env.id).toBe(77);
        }
      }),
      { numRuns: 40 },
    );
    // A whole header without its data frame: the id is readable, so the caller is told.
    await raw.send([full[0]!]);
    const [env] = await raw.sync(++id);
    expect(env?.kind).toBe('err');
    if (env?.kind === 'err') {
      expect(env.id).toBe(77);
      expect(errorFromWire(env.error)).toBeInstanceOf(ProtocolError);
    }
    await stillServing();
  });

  it('handles headers of the wrong type: no answer when no id can be read, a ProtocolError when it can', async () => {
    const raw = rawDealer();
    const before = server.stats().malformed;
    const unreadable: unknown[] = [
      ['req', 1, 'call'],
      'a string header',
      42,
      null,
      { v: 1, k: 'req', id: 'seven', m: 'call' },
      { v: 1, k: 'req', id: -1, m: 'call' },
      { v: 1, k: 'req', id: 1.5, m: 'call' },
      { v: 1, k: 'rep', id: 3, p: 'a reply sent to a server' },
      { v: 1, k: 'pub', t: 'x', s: 1, ep: 'e', p: 1 },
    ];
    for (const h of unreadable) await raw.send(encodeMessage(h));
    expect(await raw.sync(3_000_000)).toEqual([]);
    expect(server.stats().malformed).toBeGreaterThanOrEqual(before + unreadable.length);

    const readable: [number, unknown][] = [
      [11, { v: 1, k: 'req', id: 11, m: 5 }],
      [12, { v: 1, k: 'req', id: 12, m: 'call', n: 7 }],
      [13, { v: 1, k: 'req', id: 13 }],
      [14, { v: 1, k: 'req', id: 14, m: 'call', n: 'echo', p: { ref: new Uint8Array(4) }, extra: [1, 2] }],
    ];
    for (const [, h] of readable) await raw.send(encodeMessage(h));
    // The 4th is valid apart from an extra field, which is ignored: it is answered normally.
    await raw.send([encodeMessage({ v: 1, k: 'req', id: 15, m: 'call', n: 'echo', p: 1 })[0]!, Buffer.from('x')]);
    const seen = await raw.sync(3_000_001);
    const byId = new Map(seen.map((e) => [e.kind === 'err' || e.kind === 'rep' ? e.id : -1, e]));
    for (const id of [11, 12, 13, 15]) {
      const e = byId.get(id);
      expect(e?.kind, `answer to ${id}`).toBe('err');
      if (e?.kind === 'err') expect(errorFromWire(e.error)).toBeInstanceOf(ProtocolError);
    }
    expect(byId.get(14)?.kind).toBe('rep');
    await stillServing();
  });

  it('answers a wrong protocol version with a ProtocolError naming the version', async () => {
    const raw = rawDealer();
    await raw.send(encodeMessage({ v: 2, k: 'req', id: 21, m: 'ping' }));
    const [env] = await raw.sync(3_100_000);
    expect(env?.kind).toBe('err');
    if (env?.kind !== 'err') return;
    expect(env.id).toBe(21);
    const err = errorFromWire(env.error);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toContain('version 2');
    await stillServing();
  });

  it('answers an unknown method with an error naming it', async () => {
    const raw = rawDealer();
    await raw.send(encodeRequest(31, 'format-disk', undefined, null));
    const [env] = await raw.sync(3_200_000);
    expect(env?.kind).toBe('err');
    if (env?.kind !== 'err') return;
    expect(env.id).toBe(31);
    const err = errorFromWire(env.error);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toContain('format-disk');
    await stillServing();
  });
});

describe('malformed input: limits', () => {
  async function limited(limits: ConstructorParameters<typeof InferenceServer>[0]): Promise<InferenceServer> {
    const s = new InferenceServer(limits);
    s.registerInterface('echo', (p) => p);
    await s.start();
    cleanups.push(() => s.stop());
    return s;
  }

  it('a frame over maxMessageBytes disconnects the sender; the server and the sender’s next calls go on', async () => {
    const s = await limited({ port: 0, host: HOST, limits: { maxMessageBytes: 64 * 1024 } });
    const statuses: ConnectionStatus[] = [];
    const client = new InferenceClient(HOST, s.port, { timeoutMs: 10_000, onStatus: (st) => statuses.push(st) });
    cleanups.push(() => client.close());
    expect(await client.call('echo', 'small')).toBe('small');
    expect(statuses).toEqual(['connected']);
    const requestsBefore = s.stats().requests;
    const oversized = client.call('echo', new Uint8Array(1 << 20), { timeoutMs: 2000 }).catch((x: unknown) => x);
    // The server drops the connection on the oversized frame: the sender's socket reports the disconnect (its
    // monitor's `disconnect` event), well before the call's deadline.
    await waitFor(() => statuses.includes('disconnected'), 'the server to disconnect the sender', 1500);
    const e = await oversized;
    // The frame was dropped with the connection, never answered: the call ends at its deadline.
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as TimeoutError).timeoutMs).toBe(2000);
    expect(s.stats().requests).toBe(requestsBefore);
    expect(await client.call('echo', 'after')).toBe('after');
    // The sender reconnected by itself.
    expect(statuses.lastIndexOf('connected')).toBeGreaterThan(statuses.indexOf('disconnected'));
    const other = new InferenceClient(HOST, s.port, { timeoutMs: 10_000 });
    cleanups.push(() => other.close());
    expect(await other.call('echo', 'other')).toBe('other');
  });

  it('a message whose frames together exceed maxMessageBytes is answered with LimitError', async () => {
    const s = await limited({ port: 0, host: HOST, limits: { maxMessageBytes: 64 * 1024 } });
    const client = new InferenceClient(HOST, s.port, { timeoutMs: 10_000 });
    cleanups.push(() => client.close());
    const parts = [new Float32Array(6000), new Float32Array(6000), new Float32Array(6000)]; // 3 x 24 KB
    const e = await client.call('echo', parts).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LimitError);
    expect(await client.call('echo', 'after')).toBe('after');
  });

  it('nesting deeper than the server’s limit is answered with LimitError', async () => {
    const s = await limited({ port: 0, host: HOST, limits: { maxDepth: 8 } });
    const client = new InferenceClient(HOST, s.port, { timeoutMs: 10_000 });
    cleanups.push(() => client.close());
    const e = await client.call('echo', nested(20)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LimitError);
    expect(await client.call('echo', nested(3))).toEqual(nested(3));
  });

  it('nesting deeper than the default limit is answered with LimitError, not left to time out', async () => {
    const client = new InferenceClient(HOST, server.port, { timeoutMs: 5_000, encode: { maxDepth: 1000 } });
    cleanups.push(() => client.close());
    const e = await client.call('echo', nested(500)).catch((x: unknown) => x);
    expect(e).not.toBeInstanceOf(TimeoutError);
    expect(e).toBeInstanceOf(LimitError);
    await stillServing();
  });
});
