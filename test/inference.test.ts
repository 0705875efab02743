/**
 * Inference mode over real ZeroMQ sockets on ephemeral loopback ports: the seed's flow, concurrency, large tensors,
 * errors, deadlines, aborts, server restarts and statistics.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { networkInterfaces, platform } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortError,
  ClosedError,
  type ConnectionStatus,
  InferenceClient,
  type InferenceClientOptions,
  InferenceServer,
  InvalidArgumentError,
  NotFoundError,
  RemoteError,
  Tensor,
  TimeoutError,
} from '../src/index.js';
import { freePort, gate, HOST, waitFor, within } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function startServer(
  setup: (s: InferenceServer) => void,
  options: number | ConstructorParameters<typeof InferenceServer>[0] = { port: 0, host: HOST },
): Promise<InferenceServer> {
  const server = new InferenceServer(options);
  setup(server);
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

function connect(port: number, options?: InferenceClientOptions): InferenceClient {
  const client = new InferenceClient(HOST, port, options);
  cleanups.push(() => client.close());
  return client;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Opens a raw TCP connection to `host:port`: resolves 'connected', or the error code (ECONNREFUSED...) within 5 s. */
function tcpProbe(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('no answer within 5000 ms');
    }, 5000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? e.message);
    });
  });
}

/**
 * Another address of this machine than {@link HOST}: its first external IPv4 address, else (Linux) 127.0.0.2, which
 * the loopback interface answers for the whole 127/8.
 */
function otherLocalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && a.address !== HOST) return a.address;
  }
  return platform() === 'linux' ? '127.0.0.2' : undefined;
}

describe('inference: the seed flow', () => {
  it('serves sync and async interfaces on a port given as a number, and lists them', async () => {
    const server = await startServer((s) => {
      s.registerInterface('voice_reg', (p) => ({ heard: (p as { audio: string }).audio }));
      s.registerInterface('face_reg', async (p) => {
        await new Promise((r) => setImmediate(r));
        return { faces: (p as { n: number }).n * 2 };
      });
    }, 0);
    expect(server.port).toBeGreaterThan(0);
    const client = connect(server.port, { timeoutMs: 5000 });
    expect(await client.call('voice_reg', { audio: 'serialized_audio' })).toEqual({ heard: 'serialized_audio' });
    expect(await client.call('face_reg', { n: 21 })).toEqual({ faces: 42 });
    expect((await client.interfaces()).sort()).toEqual(['face_reg', 'voice_reg']);
    expect(server.interfaces().sort()).toEqual(['face_reg', 'voice_reg']);
    // The ping really crossed the wire: the server answered exactly one more ping, and the time is a real duration.
    const pingsBefore = server.stats().methods.ping?.calls ?? 0;
    const rtt = await client.ping();
    expect(server.stats().methods.ping?.calls).toBe(pingsBefore + 1);
    expect(Number.isFinite(rtt)).toBe(true);
    expect(rtt).toBeGreaterThan(0);
    expect(client.status).toBe('connected');
  });

  it('binds the host given in the options: reachable at that address, refused at another address of the machine', async (ctx) => {
    const other = otherLocalAddress();
    if (other === undefined) {
      ctx.skip('this machine has no local address other than 127.0.0.1 to show the server is not bound there');
      return;
    }
    const server = await startServer((s) => s.registerInterface('echo', (p) => p));
    expect(await connect(server.port).call('echo', 'here')).toBe('here');
    expect(await tcpProbe(HOST, server.port)).toBe('connected');
    // Bound to 127.0.0.1 only: the same port at another address of this machine has no listener.
    expect(await tcpProbe(other, server.port)).toBe('ECONNREFUSED');
  });

  it('a call without payload sends null', async () => {
    let seen: unknown = 'unset';
    const server = await startServer((s) =>
      s.registerInterface('noarg', (p) => {
        seen = p;
        return 'ok';
      }),
    );
    const client = connect(server.port);
    expect(await client.call('noarg', undefined)).toBe('ok');
    expect(seen).toBeNull();
  });

  it('returns tensors, typed arrays and bytes from a handler with their types', async () => {
    const server = await startServer((s) =>
      s.registerInterface('double', (p) => {
        const t = p as Tensor;
        const out = new Float32Array(t.data.length);
        for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]) * 2;
        return { out: new Tensor('float32', out, t.shape), ids: new Int32Array([1, 2]), raw: new Uint8Array(2000) };
      }),
    );
    const client = connect(server.port);
    const input = new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const r = (await client.call('double', input)) as { out: Tensor; ids: Int32Array; raw: Uint8Array };
    expect(r.out).toBeInstanceOf(Tensor);
    expect(r.out.shape).toEqual([2, 3]);
    expect([...r.out.data]).toEqual([2, 4, 6, 8, 10, 12]);
    expect(r.ids).toBeInstanceOf(Int32Array);
    expect([...r.ids]).toEqual([1, 2]);
    expect(r.raw).toBeInstanceOf(Uint8Array);
    expect(r.raw.byteLength).toBe(2000);
  });
});

describe('inference: many clients at once', () => {
  it('16 clients x 25 calls each get their own replies, never another caller’s', async () => {
    const server = await startServer((s) =>
      s.registerInterface('tag', async (p) => {
        const { client, seq, data } = p as { client: number; seq: number; data: Tensor };
        // Reorder completions: some replies overtake others.
        if ((client + seq) % 3 === 0) await new Promise((r) => setImmediate(r));
        let sum = 0;
        for (const v of data.data as Int32Array) sum += v;
        return { client, seq, sum, echo: data };
      }),
    );
    const clients = Array.from({ length: 16 }, () => connect(server.port, { timeoutMs: 15_000 }));
    const results = await Promise.all(
      clients.map(async (c, client) => {
        const calls = Array.from({ length: 25 }, async (_, seq) => {
          const data = new Tensor(
            'int32',
            Int32Array.from({ length: 64 }, (_, i) => client * 1000 + seq + i),
            [8, 8],
          );
          const r = (await c.call('tag', {
            client,
            seq,
            data,
          })) as { client: number; seq: number; sum: number; echo: Tensor };
          let expected = 0;
          for (const v of data.data) expected += v;
          expect(r.client).toBe(client);
          expect(r.seq).toBe(seq);
          expect(r.sum).toBe(expected);
          expect([...r.echo.data]).toEqual([...data.data]);
          return r.seq;
        });
        return Promise.all(calls);
      }),
    );
    expect(results.flat()).toHaveLength(16 * 25);
    const st = server.stats();
    expect(st.requests).toBe(16 * 25);
    expect(st.errors).toBe(0);
    expect(st.methods['call:tag']?.calls).toBe(16 * 25);
    expect(st.clients).toBe(16);
  });
});

describe('inference: large payloads', () => {
  it('round-trips a 100 MB tensor byte for byte', async () => {
    const server = await startServer((s) =>
      s.registerInterface('echo', (p) => {
        const t = p as Tensor;
        return { t, hash: sha256(t.bytes()) };
      }),
    );
    const client = connect(server.port, { timeoutMs: 25_000 });
    const n = 100 * 1024 * 1024;
    const data = new Uint8Array(n);
    randomFillSync(data, 0, 1 << 20);
    // Spread distinct content across the whole buffer without paying for 100 MB of randomness.
    for (let off = 1 << 20; off < n; off += 1 << 20) {
      data.set(data.subarray(0, 1 << 20), off);
      data[off] = off >>> 20;
    }
    const sent = new Tensor('uint8', data, [100, 1024, 1024]);
    const want = sha256(data);
    const r = (await client.call('echo', sent)) as { t: Tensor; hash: string };
    // The server hashed what it received, the client hashes what came back.
    expect(r.hash).toBe(want);
    expect(r.t).toBeInstanceOf(Tensor);
    expect(r.t.dtype).toBe('uint8');
    expect(r.t.shape).toEqual([100, 1024, 1024]);
    const got = r.t.data as Uint8Array;
    expect(got.byteLength).toBe(n);
    for (const at of [0, 12_345, n / 2 + 7, n - 4096]) {
      expect(Buffer.compare(got.subarray(at, at + 4096), data.subarray(at, at + 4096))).toBe(0);
    }
    expect(sha256(got)).toBe(want);
  });
});

describe('inference: errors', () => {
  it('a handler that throws rejects that caller with RemoteError, and the server goes on', async () => {
    const server = await startServer((s) => {
      s.registerInterface('sync-throw', () => {
        throw new TypeError('image must be 224x224');
      });
      s.registerInterface('async-throw', async () => {
        await new Promise((r) => setImmediate(r));
        throw Object.assign(new RangeError('score out of range'), { code: 'E_SCORE' });
      });
      s.registerInterface('throw-string', () => {
        throw 'plain string';
      });
      s.registerInterface('ok', (p) => p);
    });
    const client = connect(server.port);

    const e1 = await client.call('sync-throw', 1).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(RemoteError);
    expect((e1 as RemoteError).remoteName).toBe('TypeError');
    expect((e1 as RemoteError).message).toContain('image must be 224x224');
    expect((e1 as RemoteError).code).toBe('EDGEML_REMOTE');

    const e2 = await client.call('async-throw', 1).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(RemoteError);
    expect((e2 as RemoteError).remoteName).toBe('RangeError');
    expect((e2 as RemoteError).remoteCode).toBe('E_SCORE');
    expect((e2 as RemoteError).message).toContain('score out of range');

    const e3 = await client.call('throw-string', 1).catch((e: unknown) => e);
    expect(e3).toBeInstanceOf(RemoteError);
    expect((e3 as RemoteError).message).toContain('plain string');

    expect(await client.call('ok', { still: 'serving' })).toEqual({ still: 'serving' });
    expect(server.stats().errors).toBe(3);
  });

  it('a result that cannot be encoded rejects the caller with an error naming the field', async () => {
    const server = await startServer((s) => s.registerInterface('bad-result', () => ({ when: new Date(0) })));
    const client = connect(server.port);
    const e = await client.call('bad-result', undefined).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).code).toBe('EDGEML_INVALID_ARGUMENT');
    expect((e as InvalidArgumentError).field).toBe('payload.when');
    expect((e as Error).message).toContain('when');
  });

  it('an unknown interface rejects with NotFoundError naming it and listing the available ones', async () => {
    const server = await startServer((s) => {
      s.registerInterface('voice_reg', () => 1);
      s.registerInterface('face_reg', () => 2);
    });
    const client = connect(server.port);
    const e = await client.call('gesture', {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NotFoundError);
    const msg = (e as Error).message;
    expect(msg).toContain('"gesture"');
    expect(msg).toContain('voice_reg');
    expect(msg).toContain('face_reg');
    expect(await client.call('face_reg', undefined)).toBe(2);
  });
});

describe('inference: concurrency', () => {
  it('a blocked handler does not delay a call to another interface', async () => {
    const hold = gate<string>();
    let slowStarted = false;
    const server = await startServer((s) => {
      s.registerInterface('slow', async () => {
        slowStarted = true;
        return await hold.promise;
      });
      s.registerInterface('fast', (p) => p);
    });
    const client = connect(server.port);
    let slowSettled = false;
    const slow = client.call('slow', undefined).finally(() => {
      slowSettled = true;
    });
    await waitFor(() => slowStarted, 'the slow handler to start');
    expect(server.stats().inFlight).toBe(1);
    expect(await client.call('fast', 'quick')).toBe('quick');
    expect(slowSettled).toBe(false);
    // A second client is not held up either.
    const other = connect(server.port);
    expect(await other.call('fast', 'other')).toBe('other');
    expect(slowSettled).toBe(false);
    hold.open('finally');
    expect(await slow).toBe('finally');
    expect(server.stats().inFlight).toBe(0);
  });
});

describe('inference: deadlines and cancellation', () => {
  it('a call to a port where nothing listens rejects with TimeoutError at its deadline', async () => {
    const port = await freePort();
    const client = connect(port);
    const e = await within(
      client.call('anything', 1, { timeoutMs: 200 }).catch((x: unknown) => x),
      5000,
      'call to nowhere',
    );
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as TimeoutError).timeoutMs).toBe(200);
    expect((e as Error).message).toContain(`${HOST}:${port}`);
    // The client default deadline applies too.
    const c2 = connect(port, { timeoutMs: 150 });
    const e2 = await c2.ping().catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(TimeoutError);
    expect((e2 as TimeoutError).timeoutMs).toBe(150);
  });

  it('retry: an attempt without a reply is sent again with the same key; an idempotent interface runs once per key; an abort stops the attempts', async () => {
    const runs = { once: 0, plain: 0 };
    const slow = (which: 'once' | 'plain') => async (p: unknown) => {
      runs[which]++;
      await new Promise((r) => setTimeout(r, 400));
      return { p, run: runs[which] };
    };
    const server = await startServer((s) => {
      s.registerInterface('once', slow('once'), { idempotent: true });
      s.registerInterface('plain', slow('plain'));
    });
    expect(server.describe()).toEqual({ once: { idempotent: true }, plain: {} });
    const client = connect(server.port);
    const retry = { timeoutMs: 3000, retry: 2, attemptTimeoutMs: 120 };
    // Three attempts reach the server: the second and third wait for the first run's result.
    expect(await client.call('once', 7, retry)).toEqual({ p: 7, run: 1 });
    expect(runs.once).toBe(1);
    // Not idempotent: every attempt runs the handler (the first reply answers; all three had started by then).
    expect(await client.call('plain', 8, retry)).toEqual({ p: 8, run: 3 });
    expect(runs.plain).toBe(3);
    // Every attempt timing out: one TimeoutError at the call's deadline, naming the attempts.
    const t0 = performance.now();
    const e = await client.call('once', 9, { timeoutMs: 300, retry: 1 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as TimeoutError).timeoutMs).toBe(300);
    expect((e as Error).message).toContain('2 attempts');
    expect(performance.now() - t0).toBeLessThan(1000);
    await expect(client.call('once', 1, { retry: -1 })).rejects.toThrow(InvalidArgumentError);
    await expect(client.call('once', 1, { retry: 1, attemptTimeoutMs: 0 })).rejects.toThrow(InvalidArgumentError);
    // Aborted while its attempts wait: AbortError at once, no further attempt is sent, and the client goes on.
    const ac = new AbortController();
    const aborted = client.call('plain', 10, { timeoutMs: 5000, retry: 3, attemptTimeoutMs: 300, signal: ac.signal });
    await waitFor(() => runs.plain === 3 + 2, 'two attempts of the aborted call to run');
    ac.abort();
    await expect(aborted).rejects.toThrow(AbortError);
    // A window longer than an attempt: without the abort, a third attempt would have run by its end.
    await new Promise((r) => setTimeout(r, 400));
    expect(runs.plain).toBe(5);
    expect(await client.call('once', 11, { timeoutMs: 3000, retry: 1 })).toMatchObject({ p: 11 });
  });

  it('an AbortSignal aborts a waiting call with AbortError; its late reply is dropped and the client goes on', async () => {
    const hold = gate();
    let started = false;
    const server = await startServer((s) => {
      s.registerInterface('slow', async () => {
        started = true;
        await hold.promise;
        return 'late';
      });
      s.registerInterface('fast', (p) => p);
    });
    const client = connect(server.port);
    const ac = new AbortController();
    const pending = client.call('slow', null, { signal: ac.signal }).catch((x: unknown) => x);
    await waitFor(() => started, 'the handler to start');
    ac.abort(new Error('user gave up'));
    const e = await pending;
    expect(e).toBeInstanceOf(AbortError);
    expect((e as AbortError).cause).toBeInstanceOf(Error);
    hold.open();
    await waitFor(() => server.stats().requests >= 1, 'the slow handler to finish');
    expect(await client.call('fast', 7)).toBe(7);

    // Already aborted before the call: rejects without sending.
    const before = server.stats().bytesIn;
    const e2 = await client.call('fast', 1, { signal: AbortSignal.abort() }).catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(AbortError);
    expect(server.stats().bytesIn).toBe(before);
  });

  it('close() rejects waiting calls with ClosedError and later calls too', async () => {
    const hold = gate();
    const server = await startServer((s) => s.registerInterface('slow', () => hold.promise));
    const client = connect(server.port);
    const pending = client.call('slow', undefined).catch((x: unknown) => x);
    await waitFor(() => server.stats().inFlight === 1, 'the call to reach the server');
    client.close();
    expect(await pending).toBeInstanceOf(ClosedError);
    expect(await client.call('slow', undefined).catch((x: unknown) => x)).toBeInstanceOf(ClosedError);
    expect(client.status).toBe('closed');
    hold.open();
  });
});

describe('inference: server restart', () => {
  it('the same client fails while the server is down and works again once it is back, without user action', async () => {
    const counts = { first: 0, second: 0 };
    const first = new InferenceServer({ port: 0, host: HOST });
    first.registerInterface('count', () => ++counts.first);
    await first.start();
    const port = first.port;
    let firstStopped = false;
    cleanups.push(() => (firstStopped ? undefined : first.stop()));

    const statuses: ConnectionStatus[] = [];
    const client = connect(port, { timeoutMs: 10_000, onStatus: (s) => statuses.push(s) });
    expect(await client.call('count', undefined)).toBe(1);
    expect(statuses[0]).toBe('connected');

    await first.stop();
    firstStopped = true;
    await waitFor(() => client.status !== 'connected', 'the client to notice the server left');
    expect(statuses).toContain('disconnected');

    // While the server is down the call waits in the client's queue, then times out.
    const down = await client.call('count', null, { timeoutMs: 300 }).catch((x: unknown) => x);
    expect(down).toBeInstanceOf(TimeoutError);

    // Same port, new server (the bind retries while the old socket frees the port).
    await startServer((s) => s.registerInterface('count', () => ++counts.second), { port, host: HOST });
    expect(await client.call('count', undefined)).toBe(1);
    expect(await client.call('count', undefined)).toBe(2);
    // The call that timed out while the server was down was never run by the new server.
    expect(counts.second).toBe(2);
    expect(counts.first).toBe(1);
    expect(statuses.lastIndexOf('connected')).toBeGreaterThan(statuses.indexOf('disconnected'));
  });
});

describe('inference: stats', () => {
  it('counts requests, errors, bytes, clients and latency per interface', async () => {
    const server = await startServer((s) => {
      s.registerInterface('echo', (p) => p);
      s.registerInterface('fail', () => {
        throw new Error('no');
      });
      s.registerInterface('sleep', () => new Promise((r) => setTimeout(() => r('slept'), SLEEP_MS)));
    });
    const SLEEP_MS = 40;
    const a = connect(server.port);
    const b = connect(server.port);
    const blob = new Uint8Array(10_000).fill(7);
    for (let i = 0; i < 5; i++) expect(((await a.call('echo', blob)) as Uint8Array).byteLength).toBe(10_000);
    await expect(b.call('fail', undefined)).rejects.toBeInstanceOf(RemoteError);
    await expect(b.call('fail', undefined)).rejects.toBeInstanceOf(RemoteError);
    await b.interfaces();
    for (let i = 0; i < 3; i++) expect(await b.call('sleep', undefined)).toBe('slept');
    await expect(b.call('nope', undefined)).rejects.toBeInstanceOf(NotFoundError);

    const st = server.stats();
    expect(st.requests).toBe(9);
    expect(st.errors).toBe(3);
    expect(st.clients).toBe(2);
    expect(st.inFlight).toBe(0);
    expect(st.bytesIn).toBeGreaterThan(5 * 10_000);
    expect(st.bytesOut).toBeGreaterThan(5 * 10_000);
    expect(st.methods['call:echo']?.calls).toBe(5);
    expect(st.methods['call:echo']?.errors).toBe(0);
    // Errors of a registered interface are recorded under its name; an unknown name's under the method alone.
    expect(st.methods['call:fail']?.calls).toBe(2);
    expect(st.methods['call:fail']?.errors).toBe(2);
    expect(st.methods.call?.calls).toBe(1);
    expect(st.methods.call?.errors).toBe(1);
    expect(st.methods.interfaces?.calls).toBe(1);
    expect(st.methods['call:sleep']?.calls).toBe(3);
    expect(st.methods['call:sleep']?.errors).toBe(0);
    expect(Object.keys(st.methods).sort()).toEqual(['call', 'call:echo', 'call:fail', 'call:sleep', 'interfaces']);
    // Bytes per interface: each echo call carried the 10 kB blob in and out.
    expect(st.methods['call:echo']?.bytesIn).toBeGreaterThan(5 * 10_000);
    expect(st.methods['call:echo']?.bytesOut).toBeGreaterThan(5 * 10_000);
    expect(st.methods['call:sleep']?.bytesIn).toBeLessThan(1000);
    // Latency per interface: finite, ordered percentiles; the handler that waits SLEEP_MS is measured as that slow.
    for (const key of ['call:echo', 'call:sleep']) {
      const m = st.methods[key]!;
      for (const v of [m.p50, m.p90, m.p99]) expect(Number.isFinite(v), `${key} latency ${v}`).toBe(true);
      expect(m.p50).toBeLessThanOrEqual(m.p90);
      expect(m.p90).toBeLessThanOrEqual(m.p99);
    }
    const sleep = st.methods['call:sleep']!;
    expect(sleep.p50).toBeGreaterThanOrEqual(SLEEP_MS - 2);
    // The echo handler returns at once: its median is below the sleeping one's.
    expect(st.methods['call:echo']!.p50).toBeLessThan(sleep.p50);
  });

  it('rejects invalid constructor arguments with the field named', () => {
    expect(() => new InferenceServer(70_000)).toThrow(/port/);
    expect(() => new InferenceClient(HOST, 0)).toThrow(/port/);
    expect(() => new InferenceClient('', 5555)).toThrow(/host/);
    const s = new InferenceServer(0);
    expect(() => s.registerInterface('', () => 1)).toThrow(/name/);
  });
});
