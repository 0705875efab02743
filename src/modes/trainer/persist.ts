/**
 * The trainer's data file (docs/file-format.md): a safe, versioned container that never executes anything it reads.
 *
 *     magic "EDGEMLT1" | u32 LE format version | u32 LE frame count N | N × u64 LE frame lengths
 *     | frame 0 (msgpack header, src/codec.ts) | frames 1..N-1 (raw tensor / typed array / byte data) | SHA-256
 *
 * The frames are exactly those of a codec message ({@link encodeMessage}), so tensors are stored byte-exact without
 * being concatenated in memory first. Writing is atomic: a temporary file in the same directory is written, fsynced,
 * renamed over the target, and the directory is fsynced, so a crash mid-save leaves the previous file intact. Reading
 * validates magic, version, frame count, lengths against the file size and the checksum before decoding anything.
 *
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILE_FRAMES } from '../../core/defaults.js';
import { EdgeMLError, InvalidArgumentError, LimitError, NotFoundError, ProtocolError } from '../../core/errors.js';
import { type DecodeLimits, decodeMessage, encodeMessage, type Frame } from '../../wire/codec.js';
import { TrainerConfig } from './config.js';
import type { TableStats } from './tables.js';

/** The first 8 bytes of every trainer data file. */
export const FILE_MAGIC = 'EDGEMLT1';
/** Version of the file layout written by this library. */
export const FILE_FORMAT_VERSION = 1;
/** The `kind` field of the header of a trainer data file. */
export const TRAINER_FILE_KIND = 'edgeml.trainer-data';

const PRELUDE = 16;
const DIGEST = 32;
const CHUNK = 1 << 30;
/** Nesting allowed in a file: a payload's own depth limit plus the file's few levels above the items. */
const FILE_MAX_DEPTH = DEFAULT_MAX_DEPTH + 8;

/** Limits applied when reading a data file; each is checked before the memory it guards is allocated. */
export interface FileLimits {
  /** Largest file, in bytes. @default {@link DEFAULT_MAX_FILE_BYTES} */
  maxFileBytes?: number;
  /** Most frames. @default {@link DEFAULT_MAX_FILE_FRAMES} */
  maxFrames?: number;
}

function errno(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.byteLength; ) {
    const { bytesWritten } = await fh.write(data, off, Math.min(CHUNK, data.byteLength - off));
    off += bytesWritten;
  }
}

async function readExactly(fh: FileHandle, length: number, position: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let off = 0; off < length; ) {
    const { bytesRead } = await fh.read(out, off, Math.min(CHUNK, length - off), position + off);
    if (bytesRead === 0) throw new ProtocolError(`file is truncated (ends inside a frame at byte ${position + off})`);
    off += bytesRead;
  }
  return out;
}

/** Fsyncs a directory so a rename inside it is durable; platforms that cannot do it are skipped. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EACCES', 'ENOTSUP'].includes(errno(e) ?? '')) throw e;
  } finally {
    await fh?.close();
  }
}

/**
 * Writes `value` to `path` atomically in the trainer file format. The previous file at `path`, if any, stays intact
 * until the new one is complete and durable.
 * @throws {@link InvalidArgumentError} / {@link LimitError} when `value` cannot be encoded, {@link EdgeMLError} when
 * the file cannot be written (the cause holds the system error)
 */
export async function writeMessageFile(path: string, value: unknown): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('path', 'must be a file path');
  const frames = encodeMessage(value, { maxDepth: FILE_MAX_DEPTH });
  const prelude = new Uint8Array(PRELUDE + 8 * frames.length);
  const view = new DataView(prelude.buffer);
  prelude.set(Buffer.from(FILE_MAGIC, 'ascii'), 0);
  view.setUint32(8, FILE_FORMAT_VERSION, true);
  view.setUint32(12, frames.length, true);
  for (const [i, f] of frames.entries()) view.setBigUint64(PRELUDE + 8 * i, BigInt(f.byteLength), true);
  const hash = createHash('sha256');
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(temp, 'wx', 0o644);
    hash.update(prelude);
    await writeAll(fh, prelude);
    for (const f of frames) {
      hash.update(f);
      await writeAll(fh, f);
    }
    await writeAll(fh, hash.digest());
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(temp, path);
    await syncDir(dirname(path));
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw new EdgeMLError(`cannot save to ${path}: ${(e as Error).message}`, 'EDGEML_ERROR', { cause: e });
  }
}

/**
 * Reads a file written by {@link writeMessageFile} and decodes its value. Everything is validated before use: magic,
 * version, frame count and lengths against the file size, the SHA-256 checksum, then the codec's own checks.
 * @throws {@link NotFoundError} when there is no file, {@link ProtocolError} when it is not a valid file (wrong magic
 * or version, truncated, trailing bytes, checksum mismatch, malformed content), {@link LimitError} over a limit,
 * {@link EdgeMLError} for other read failures
 */
export async function readMessageFile(path: string, limits: FileLimits = {}): Promise<unknown> {
  const maxBytes = limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxFrames = limits.maxFrames ?? DEFAULT_MAX_FILE_FRAMES;
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new NotFoundError(`no trainer data file at ${path}`, { cause: e });
    throw new EdgeMLError(`cannot open ${path}: ${(e as Error).message}`, 'EDGEML_ERROR', { cause: e });
  }
  try {
    const size = (await fh.stat()).size;
    if (size > maxBytes) throw new LimitError(`file of ${size} bytes exceeds the limit of ${maxBytes}`);
    if (size < PRELUDE + 8 + DIGEST) throw new ProtocolError(`file of ${size} bytes is too short to be a data file`);
    const head = await readExactly(fh, PRELUDE, 0);
    if (Buffer.from(head.subarray(0, 8)).toString('latin1') !== FILE_MAGIC) {
      throw new ProtocolError(`${path} is not an edgeml trainer data file (bad magic bytes)`);
    }
    const view = new DataView(head.buffer);
    const version = view.getUint32(8, true);
    if (version !== FILE_FORMAT_VERSION) {
      throw new ProtocolError(`unsupported file format version ${version} (this library reads ${FILE_FORMAT_VERSION})`);
    }
    const count = view.getUint32(12, true);
    if (count === 0) throw new ProtocolError('file holds no frames');
    if (count > maxFrames) throw new LimitError(`file of ${count} frames exceeds the limit of ${maxFrames}`);
    const dataStart = PRELUDE + 8 * count;
    if (dataStart + DIGEST > size) throw new ProtocolError(`file is truncated (frame table of ${count} frames)`);
    const table = await readExactly(fh, 8 * count, PRELUDE);
    const tableView = new DataView(table.buffer);
    const lengths: number[] = [];
    let total = dataStart + DIGEST;
    for (let i = 0; i < count; i++) {
      const n = tableView.getBigUint64(8 * i, true);
      if (n > BigInt(size)) throw new ProtocolError(`frame ${i} claims ${n} bytes, more than the file holds`);
      lengths.push(Number(n));
      total += Number(n);
    }
    if (total > size) throw new ProtocolError(`file is truncated: ${size} bytes, its frame table needs ${total}`);
    if (total < size) throw new ProtocolError(`file has ${size - total} unexpected bytes after its last frame`);
    const hash = createHash('sha256');
    hash.update(head);
    hash.update(table);
    const frames: Frame[] = [];
    let pos = dataStart;
    for (const n of lengths) {
      const frame = await readExactly(fh, n, pos);
      hash.update(frame);
      frames.push(frame);
      pos += n;
    }
    const stored = await readExactly(fh, DIGEST, pos);
    if (!timingSafeEqual(hash.digest(), stored)) throw new ProtocolError(`${path} is corrupt (checksum mismatch)`);
    const decodeLimits: DecodeLimits = {
      maxFrames,
      maxMessageBytes: maxBytes,
      maxHeaderBytes: maxBytes,
      maxCollectionLength: Number.MAX_SAFE_INTEGER,
      maxValues: Number.MAX_SAFE_INTEGER,
      maxDepth: FILE_MAX_DEPTH,
    };
    return decodeMessage(frames, decodeLimits);
  } catch (e) {
    if (e instanceof EdgeMLError) throw e;
    throw new EdgeMLError(`cannot read ${path}: ${(e as Error).message}`, 'EDGEML_ERROR', { cause: e });
  } finally {
    await fh.close();
  }
}

/** Counters of a table as saved (its current size is the number of items). */
export type SavedCounters = Omit<TableStats, 'name' | 'capacity' | 'fifo' | 'size' | 'maxBytes' | 'bytes'>;

/** What a trainer data file holds. */
export interface TrainerSnapshot {
  /** The server's config (as given, ports included). */
  config: TrainerConfig;
  /** Version of the latest weights published; a restored server continues from it. */
  weightsVersion: number;
  /** Each table's items, oldest first, and counters. */
  tables: { name: string; items: unknown[]; counters: SavedCounters }[];
  /** ISO time the file was written (informational). */
  savedAt: string;
}

/** Saves `snapshot` to `path` atomically (see {@link writeMessageFile}). */
export async function saveTrainerData(path: string, snapshot: TrainerSnapshot): Promise<void> {
  await writeMessageFile(path, {
    kind: TRAINER_FILE_KIND,
    savedAt: snapshot.savedAt,
    config: snapshot.config.toJSON(),
    weightsVersion: snapshot.weightsVersion,
    tables: snapshot.tables.map((t) => ({ name: t.name, ...t.counters, items: t.items })),
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function count(record: Record<string, unknown>, key: string, where: string): number {
  const v = record[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ProtocolError(`${where}.${key} must be a non-negative integer`);
  }
  return v;
}

/**
 * Loads a file written by {@link saveTrainerData}, validating the container and then its content (kind, config,
 * one entry per configured table, item counts within each table's size, counters).
 * @throws as {@link readMessageFile}; {@link ProtocolError} when the content is not valid trainer data
 */
export async function loadTrainerData(path: string, limits?: FileLimits): Promise<TrainerSnapshot> {
  const v = await readMessageFile(path, limits);
  if (!isRecord(v) || v.kind !== TRAINER_FILE_KIND) {
    throw new ProtocolError(`${path} does not hold trainer data (kind ${JSON.stringify(isRecord(v) ? v.kind : v)})`);
  }
  let config: TrainerConfig;
  try {
    config = new TrainerConfig(v.config as never);
  } catch (e) {
    throw new ProtocolError(`${path} holds an invalid config: ${(e as Error).message}`, { cause: e });
  }
  const weightsVersion = count(v, 'weightsVersion', 'file');
  if (!Array.isArray(v.tables)) throw new ProtocolError('file.tables must be an array');
  const tables: TrainerSnapshot['tables'] = [];
  for (const [i, t] of v.tables.entries()) {
    const where = `file.tables[${i}]`;
    if (!isRecord(t) || typeof t.name !== 'string') throw new ProtocolError(`${where} needs a name`);
    const def = config.table(t.name);
    if (!def) throw new ProtocolError(`${where}: table ${JSON.stringify(t.name)} is not in the file's config`);
    if (tables.some((x) => x.name === t.name)) throw new ProtocolError(`${where}: table ${t.name} appears twice`);
    if (!Array.isArray(t.items)) throw new ProtocolError(`${where}.items must be an array`);
    if (t.items.length > def.size) {
      throw new ProtocolError(`${where}: ${t.items.length} items exceed the table's size ${def.size}`);
    }
    const counters: SavedCounters = {
      inserted: count(t, 'inserted', where),
      dropped: count(t, 'dropped', where),
      rejected: count(t, 'rejected', where),
      taken: count(t, 'taken', where),
    };
    tables.push({ name: t.name, items: t.items, counters });
  }
  for (const def of config.dataTable) {
    if (!tables.some((t) => t.name === def.name)) throw new ProtocolError(`file lacks table ${def.name}`);
  }
  return { config, weightsVersion, tables, savedAt: typeof v.savedAt === 'string' ? v.savedAt : '' };
}
