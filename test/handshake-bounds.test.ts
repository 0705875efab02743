/**
 * The config handshake at bounded cost (issue 10, row 3): configs compared in a canonical form that treats byte
 * strings and typed arrays as length + bytes, a config over DEFAULT_MAX_CONFIG_BYTES refused with LimitError, and
 * mismatch messages that never echo more than a few hundred characters of the peer's config.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_CONFIG_BYTES } from '../src/core/defaults.js';
import { tcpEndpoint } from '../src/core/endpoint.js';
import { ConfigMismatchError, LimitError } from '../src/core/errors.js';
import { canonicalJson, diffConfig, M_HELLO, serveHandshake } from '../src/messaging/handshake.js';
import { RpcClient } from '../src/messaging/rpc-client.js';
import { RpcServer } from '../src/messaging/rpc-server.js';
import { Tensor } from '../src/tensor/tensor.js';
import { InprocTransport } from '../src/transport/inproc/inproc-transport.js';
import { encodeError } from '../src/wire/envelopes.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const CONFIG = { actionKeys: ['move'], observationKeys: ['cam1'], version: '1' };

async function hello(config: unknown, mode = 'action'): Promise<unknown> {
  const transport = new InprocTransport();
  const server = new RpcServer();
  serveHandshake(server, 'action', CONFIG);
  const [port] = (await server.start([{ transport, endpoint: tcpEndpoint('edge', 0) }])) as [number];
  const client = new RpcClient(transport, tcpEndpoint('edge', port), { timeoutMs: 30_000 });
  cleanups.push(
    () => server.stop(),
    () => client.close(),
  );
  try {
    return await client.call(M_HELLO, undefined, { mode, config });
  } catch (e) {
    return e;
  }
}

describe('canonical form', () => {
  it('ignores key order, compares byte strings and typed arrays by length and bytes', () => {
    expect(canonicalJson({ b: 1, a: [1, { y: 2, x: 1 }] })).toBe(canonicalJson({ a: [1, { x: 1, y: 2 }], b: 1 }));
    expect(canonicalJson(Uint8Array.of(1, 2))).toBe(canonicalJson(Uint8Array.of(1, 2)));
    expect(canonicalJson(Uint8Array.of(1, 2))).not.toBe(canonicalJson(Uint8Array.of(1, 3)));
    expect(canonicalJson(Uint8Array.of(1, 2))).not.toBe(canonicalJson(Uint16Array.of(0x0201)));
    expect(canonicalJson(Uint8Array.of(1, 2))).not.toBe(canonicalJson({ 0: 1, 1: 2 }));
    const t = new Tensor('uint8', Uint8Array.of(1, 2), [2]);
    expect(canonicalJson(t)).not.toBe(canonicalJson(t.reshape([1, 2])));
    expect(canonicalJson(undefined)).toBeUndefined();
    expect(canonicalJson({ a: undefined, b: 1 })).toBe(canonicalJson({ b: 1 }));
    expect(canonicalJson(5n)).toBe(canonicalJson('5'));
  });

  it('stops at maxBytes with a LimitError, before sorting or hex-encoding anything large', () => {
    const started = performance.now();
    expect(() => canonicalJson(new Uint8Array(40 * 1024 * 1024), 65536)).toThrow(LimitError);
    const wide: Record<string, number> = {};
    for (let i = 0; i < 200_000; i++) wide[`k${i}`] = i;
    expect(() => canonicalJson(wide, 65536)).toThrow(LimitError);
    expect(() => diffConfig({ big: 'x'.repeat(70_000) }, CONFIG, 65536)).toThrow(LimitError);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('hello', () => {
  it('answers a matching config, and a mismatch with the differing fields', async () => {
    expect(await hello({ ...CONFIG })).toEqual({ mode: 'action', config: CONFIG });
    const e = await hello({ ...CONFIG, version: '2' });
    expect(e).toBeInstanceOf(ConfigMismatchError);
    expect((e as ConfigMismatchError).fields).toEqual(['version']);
  });

  it('refuses a config holding a 20 MiB byte string with LimitError, quickly', async () => {
    const started = performance.now();
    const e = await hello({ ...CONFIG, version: new Uint8Array(20 * 1024 * 1024) });
    expect(e).toBeInstanceOf(LimitError);
    expect((e as Error).message.length).toBeLessThan(400);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(DEFAULT_MAX_CONFIG_BYTES).toBe(64 * 1024);
  });

  it('a mismatch message never echoes more than a few hundred characters per field, nor more than 5 fields', async () => {
    const config: Record<string, unknown> = { ...CONFIG, version: 'v'.repeat(60_000) };
    for (let i = 0; i < 50; i++) config[`extra${i}`] = i;
    const e = await hello(config);
    expect(e).toBeInstanceOf(ConfigMismatchError);
    expect((e as Error).message.length).toBeLessThan(3000);
    expect((e as Error).message).toMatch(/and 46 more/);
    expect(encodeError(1, e)[0]!.byteLength).toBeLessThan(8000);
    const mode = await hello(CONFIG, 'm'.repeat(1_000_000));
    expect(mode).toBeInstanceOf(ConfigMismatchError);
    expect((mode as Error).message.length).toBeLessThan(400);
  });
});
