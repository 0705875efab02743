/**
 * The trainer data file: save/load round trip (tensors byte-exact), validation of corrupt, truncated and missing
 * files, limits, and atomic saves (a process killed mid-save leaves the previous file intact).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EdgeMLError, LimitError, NotFoundError, ProtocolError } from '../src/core/errors.js';
import { loadTrainerData, readMessageFile, writeMessageFile } from '../src/modes/trainer/persist.js';
import { TrainerServer } from '../src/modes/trainer/server.js';
import { arrayTypeOf, DTYPES, type DType, itemSize, Tensor } from '../src/tensor/tensor.js';
import { waitFor } from './helpers.js';

let dir = '';
const children: ChildProcess[] = [];
const servers: TrainerServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-persist-'));
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of servers.splice(0)) await s.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A [2, 3] tensor of `dtype` whose bytes follow a pattern (bool elements stay 0/1). */
function patterned(dtype: DType, salt: number): Tensor {
  const bytes = new Uint8Array(6 * itemSize(dtype));
  for (let k = 0; k < bytes.length; k++) bytes[k] = dtype === 'bool' ? (k + salt) & 1 : (k * 37 + salt * 11) & 0xff;
  const Ctor = arrayTypeOf(dtype);
  return new Tensor(dtype, new Ctor(bytes.buffer, 0, 6) as never, [2, 3]);
}

function bytesOf(t: Tensor): Buffer {
  const b = t.bytes();
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The payload of one experience item, with every kind of value a payload may hold. */
function item(i: number): Record<string, unknown> {
  return {
    i,
    tensors: Object.fromEntries(DTYPES.map((d) => [d, patterned(d, i)])),
    empty: new Tensor('float32', new Float32Array(0), [0, 3]),
    scalar: new Tensor('float64', new Float64Array([Math.PI * i]), []),
    obs: new Float32Array([i, i + 0.25]),
    small: new Uint8Array([1, 2, i]),
    large: new Uint8Array(5000).fill(i),
    big: 2n ** 60n + BigInt(i),
    nested: { ok: true, list: [null, 'ü', -1.5, { deep: [i] }] },
  };
}

function expectSameItem(got: unknown, want: Record<string, unknown>): void {
  const g = got as Record<string, unknown>;
  const gt = g.tensors as Record<string, Tensor>;
  for (const d of DTYPES) {
    const t = gt[d]!;
    expect(t).toBeInstanceOf(Tensor);
    expect(t.dtype).toBe(d);
    expect(t.shape).toEqual([2, 3]);
    expect(bytesOf(t).equals(bytesOf((want.tensors as Record<string, Tensor>)[d]!))).toBe(true);
  }
  expect((g.empty as Tensor).shape).toEqual([0, 3]);
  expect((g.scalar as Tensor).data).toEqual((want.scalar as Tensor).data);
  const { tensors: _a, empty: _b, scalar: _c, ...rest } = g;
  const { tensors: _d, empty: _e, scalar: _f, ...wantRest } = want;
  expect(rest).toEqual(wantRest);
}

async function savedFile(): Promise<string> {
  const server = new TrainerServer({ dataTable: [{ name: 'a', size: 2 }], portNumber: 0, broadcastPort: 0 });
  server.insert('a', { x: new Float32Array([1, 2, 3]), label: 'one' });
  server.insert('a', { x: new Float32Array([4, 5, 6]), label: 'two' });
  const path = join(dir, 'data.edgeml');
  await server.saveData(path);
  return path;
}

/** Rewrites the trailing SHA-256 so the checksum matches again after an edit. */
function reseal(bytes: Buffer): Buffer {
  const body = bytes.subarray(0, bytes.length - 32);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

describe('trainer data file', () => {
  it('round-trips config, tables, counters and weights version; tensors byte-exact', async () => {
    const config = {
      dataTable: [
        { name: 'replay', size: 3 },
        { name: 'episodes', size: 4, fifo: false },
      ],
      requestTypes: ['stats'],
      rateLimit: 20,
      version: 'exp-7',
      portNumber: 0,
      broadcastPort: 0,
    };
    const server = new TrainerServer(config);
    servers.push(server);
    await server.start();
    for (let i = 0; i < 5; i++) server.insert('replay', item(i));
    server.insert('episodes', item(10));
    server.publishWeights({ w: [1] });
    server.publishWeights({ w: [2] });
    const path = join(dir, 'trainer.edgeml');
    await server.saveData(path);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const restored = await TrainerServer.makeFromFile(path, () => 'trained');
    servers.push(restored);
    expect(restored.config.toJSON()).toEqual(server.config.toJSON());
    expect(restored.tableNames()).toEqual(['replay', 'episodes']);
    const replay = restored.getData('replay')!;
    expect(replay).toHaveLength(3);
    for (const [k, got] of replay.entries()) expectSameItem(got, item(k + 2));
    expectSameItem(restored.getData('episodes')![0], item(10));
    expect(restored.tableStats('replay')).toEqual(server.tableStats('replay'));
    expect(restored.tableStats('episodes')).toEqual(server.tableStats('episodes'));
    expect(restored.weightsVersion).toBe(2);
    await restored.start();
    expect(restored.publishWeights({ w: [3] })).toBe(3);
    // Restored tables keep their policy: FIFO drops, non-FIFO refuses when full.
    restored.insert('replay', item(99));
    expect((restored.getData('replay')![0] as { i: number }).i).toBe(3);
    const fromFile = await loadTrainerData(path);
    expect(fromFile.savedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('can restore onto other ports', async () => {
    const path = await savedFile();
    const restored = await TrainerServer.makeFromFile(path, undefined, undefined, {
      ports: { portNumber: 6001, broadcastPort: 6002 },
    });
    expect([restored.config.portNumber, restored.config.broadcastPort]).toEqual([6001, 6002]);
    expect(restored.getData('a')).toEqual([
      { x: new Float32Array([1, 2, 3]), label: 'one' },
      { x: new Float32Array([4, 5, 6]), label: 'two' },
    ]);
  });

  it('rejects a missing file with NotFoundError and an unreadable path with a plain EdgeMLError (EDGEML_ERROR) carrying the system error', async () => {
    const missing = join(dir, 'nope.edgeml');
    const notFound = await TrainerServer.makeFromFile(missing).catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(NotFoundError);
    expect(notFound).toMatchObject({ code: 'EDGEML_NOT_FOUND', cause: { code: 'ENOENT' } });
    expect((notFound as Error).message).toContain(missing);
    // A directory is no file: not a NotFoundError nor any other subclass, the root class with the I/O error as cause.
    const unreadable = await TrainerServer.makeFromFile(dir).catch((e: unknown) => e);
    expect(unreadable).toBeInstanceOf(EdgeMLError);
    expect(unreadable).toMatchObject({ name: 'EdgeMLError', code: 'EDGEML_ERROR', cause: { code: 'EISDIR' } });
    expect((unreadable as Error).message).toContain(`cannot read ${dir}`);
    const server = new TrainerServer({ dataTable: [{ name: 'a', size: 1 }] });
    const target = join(dir, 'missing-dir', 'x.edgeml');
    const unwritable = await server.saveData(target).catch((e: unknown) => e);
    expect(unwritable).toBeInstanceOf(EdgeMLError);
    expect(unwritable).toMatchObject({ name: 'EdgeMLError', code: 'EDGEML_ERROR', cause: { code: 'ENOENT' } });
    expect((unwritable as Error).message).toContain(`cannot save to ${target}`);
  });

  it('rejects a corrupt file: flipped bytes anywhere, wrong magic, unknown version', async () => {
    const path = await savedFile();
    const good = await readFile(path);
    for (const at of [20, Math.floor(good.length / 2), good.length - 40, good.length - 1]) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x40;
      await writeFile(path, bad);
      await expect(TrainerServer.makeFromFile(path)).rejects.toBeInstanceOf(ProtocolError);
    }
    const magic = Buffer.from(good);
    magic.write('PICKLE!!', 0, 'latin1');
    await writeFile(path, reseal(magic));
    await expect(readMessageFile(path)).rejects.toThrow(/magic/);
    const version = Buffer.from(good);
    version.writeUInt32LE(2, 8);
    await writeFile(path, reseal(version));
    await expect(readMessageFile(path)).rejects.toThrow(/unsupported file format version 2/);
    await writeFile(path, good);
    expect(await loadTrainerData(path)).toMatchObject({ weightsVersion: 0 });
  });

  it('rejects truncated files and files with extra bytes', async () => {
    const path = await savedFile();
    const good = await readFile(path);
    for (const n of [0, 7, 16, 23, 40, good.length - 33, good.length - 32, good.length - 1]) {
      await writeFile(path, good.subarray(0, n));
      const err = await TrainerServer.makeFromFile(path).catch((e: unknown) => e);
      expect(err, `cut at ${n}`).toBeInstanceOf(ProtocolError);
    }
    await writeFile(path, Buffer.concat([good, Buffer.from([0])]));
    await expect(readMessageFile(path)).rejects.toBeInstanceOf(ProtocolError);
  });

  it('rejects frame tables that lie about lengths, even with a matching checksum', async () => {
    const path = await savedFile();
    const good = await readFile(path);
    const lying = Buffer.from(good);
    lying.writeBigUInt64LE(2n ** 40n, 16); // frame 0 claims a TiB
    await writeFile(path, reseal(lying));
    await expect(readMessageFile(path)).rejects.toThrow(/more than the file holds/);
    const shifted = Buffer.from(good);
    shifted.writeBigUInt64LE(shifted.readBigUInt64LE(16) + 1n, 16);
    await writeFile(path, reseal(shifted));
    await expect(readMessageFile(path)).rejects.toThrow(/truncated/);
    const many = Buffer.from(good);
    many.writeUInt32LE(0xffffffff, 12);
    await writeFile(path, reseal(many));
    await expect(readMessageFile(path)).rejects.toBeInstanceOf(LimitError);
    await expect(readMessageFile(path, { maxFrames: 2 ** 32 })).rejects.toThrow(/truncated/);
  });

  it('enforces file limits before reading the content', async () => {
    const path = await savedFile();
    await expect(readMessageFile(path, { maxFileBytes: 64 })).rejects.toBeInstanceOf(LimitError);
    await expect(readMessageFile(path, { maxFrames: 1 })).rejects.toBeInstanceOf(LimitError);
  });

  it('validates the content: kind, config, tables and their sizes', async () => {
    const path = join(dir, 'x.edgeml');
    const valid = {
      kind: 'edgeml.trainer-data',
      config: { dataTable: [{ name: 'a', size: 1, fifo: true }] },
      weightsVersion: 0,
      tables: [{ name: 'a', inserted: 1, dropped: 0, rejected: 0, taken: 0, items: [1] }],
    };
    await writeMessageFile(path, valid);
    expect((await loadTrainerData(path)).tables[0]?.items).toEqual([1]);
    const cases: [string, unknown][] = [
      ['kind', { ...valid, kind: 'pickle' }],
      ['config', { ...valid, config: { dataTable: [{ name: 'a', size: 0 }] } }],
      ['items over size', { ...valid, tables: [{ ...valid.tables[0], items: [1, 2] }] }],
      ['unknown table', { ...valid, tables: [{ ...valid.tables[0], name: 'b' }] }],
      ['missing table', { ...valid, tables: [] }],
      ['bad counter', { ...valid, tables: [{ ...valid.tables[0], inserted: -1 }] }],
      ['bad version', { ...valid, weightsVersion: 'one' }],
      ['not a map', [1, 2, 3]],
    ];
    for (const [what, value] of cases) {
      await writeMessageFile(path, value);
      const err = await loadTrainerData(path).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(ProtocolError);
    }
  });

  it('a process killed mid-save leaves the previous file intact', async () => {
    const path = join(dir, 'trainer.edgeml');
    const fixture = fileURLToPath(new URL('./fixtures/trainer-save-loop.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, '48', String(1024 * 1024)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await waitFor(() => out.includes('saved 1\n') || child.exitCode !== null, 'the first complete save', 20_000);
    expect(err).toBe('');
    // Kill it while it is writing a later generation: its temporary file exists and the rename has not happened.
    await waitFor(
      async () => (await readdir(dir)).some((f) => f.endsWith('.tmp')) || child.exitCode !== null,
      'a save in progress',
      20_000,
    );
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode).toBe('SIGKILL');
    const restored = await TrainerServer.makeFromFile(path);
    const items = restored.getData('big') as { generation: number; index: number; data: Uint8Array }[];
    expect(items).toHaveLength(48);
    // The file holds the last generation reported saved, or the one after it (renamed just before the kill).
    const lastSaved = Math.max(...[...out.matchAll(/saved (\d+)/g)].map((m) => Number(m[1])));
    const generation = items[0]!.generation;
    expect(generation === lastSaved || generation === lastSaved + 1).toBe(true);
    const expected = Buffer.alloc(1024 * 1024, generation % 251);
    items.forEach((it, k) => {
      expect(it.generation).toBe(generation);
      expect(it.index).toBe(k);
      expect(Buffer.from(it.data.buffer, it.data.byteOffset, it.data.byteLength).equals(expected)).toBe(true);
    });
  });
});
