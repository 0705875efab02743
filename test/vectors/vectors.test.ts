import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/core/defaults.js';
import { LimitError, ProtocolError } from '../../src/core/errors.js';
import {
  type DecodeLimits,
  decodeMessage,
  type EncodeOptions,
  encodeMessage,
  type Frame,
} from '../../src/wire/codec.js';
import { decodeEnvelope } from '../../src/wire/envelopes.js';
import { buildInvalid, buildVectors, type InvalidVector, type Vector } from './generate.js';
import { toTagged } from './tagged.js';

const here = dirname(fileURLToPath(import.meta.url));
const vectors = JSON.parse(readFileSync(join(here, 'vectors.json'), 'utf8')) as Vector[];
const invalid = JSON.parse(readFileSync(join(here, 'invalid.json'), 'utf8')) as InvalidVector[];

const frames = (hex: string[]): Frame[] => hex.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
const toHex = (fs: Frame[]): string[] =>
  fs.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('hex'));

describe('golden vectors', () => {
  it('are up to date with the generator (run `npm run vectors` after a format change)', () => {
    expect(JSON.parse(JSON.stringify(buildVectors()))).toEqual(vectors);
    expect(JSON.parse(JSON.stringify(buildInvalid()))).toEqual(invalid);
  });

  it('cover every dtype, every ext type, compression and every envelope kind', () => {
    const names = vectors.map((v) => v.name);
    for (const d of ['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64']) {
      expect(names).toContain(`tensor-${d}`);
    }
    for (const d of ['float16', 'bfloat16', 'float32', 'float64']) expect(names).toContain(`tensor-${d}`);
    for (const n of [
      'tensor-0d',
      'tensor-empty',
      'bytes-frame',
      'typed-array-float32',
      'lz4-tensor',
      'lz4-bytes',
      'image-jpeg',
    ]) {
      expect(names).toContain(n);
    }
    const kinds = vectors.filter((v) => v.name.startsWith('envelope-')).map((v) => (v.value as { k: string }).k);
    expect(new Set(kinds)).toEqual(new Set(['req', 'rep', 'err', 'pub']));
  });

  it.each(vectors.map((v) => [v.name, v]))('%s decodes to its value and re-encodes to the same bytes', (_n, v) => {
    const decoded = decodeMessage(frames(v.frames));
    expect(toTagged(decoded)).toEqual(v.value);
    const again = encodeMessage(decoded, (v.encode ?? {}) as EncodeOptions);
    expect(toHex(again)).toEqual(v.frames);
    if (v.name.startsWith('envelope-')) expect(() => decodeEnvelope(frames(v.frames))).not.toThrow();
  });
});

describe('invalid vectors', () => {
  const classes = { ProtocolError, LimitError };
  it.each(invalid.map((v) => [v.name, v]))('%s is rejected', (_n, v) => {
    const limits = (v.limits ?? {}) as DecodeLimits;
    let error: unknown;
    try {
      if (v.level === 'message') decodeMessage(frames(v.frames), limits);
      else decodeEnvelope(frames(v.frames), limits);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(classes[v.error]);
    if (v.error === 'ProtocolError') expect(error).not.toBeInstanceOf(LimitError);
    // An envelope-level vector is a valid message: only the envelope rules reject it.
    if (v.level === 'envelope') expect(() => decodeMessage(frames(v.frames), limits)).not.toThrow();
  });
});

describe('docs/protocol.md', () => {
  const doc = readFileSync(join(here, '..', '..', 'docs', 'protocol.md'), 'utf8');
  const vector = (name: string): Vector => vectors.find((v) => v.name === name)!;

  it('shows the worked example exactly as the golden vector encodes it', () => {
    const block = doc.slice(doc.indexOf('Frame 0 ('), doc.indexOf('Frame 1 ('));
    const bytes = [...block.matchAll(/^((?:[0-9a-f]{2} )*[0-9a-f]{2})\s{2,}/gm)].map((m) => m[1]!.replaceAll(' ', ''));
    const [header, data] = vector('envelope-request').frames;
    expect(bytes.join('')).toBe(header);
    expect(block).toContain(`Frame 0 (${header!.length / 2} bytes)`);
    expect(doc).toContain(`Frame 1 (${data!.length / 2} bytes): \`${data!.match(/../g)!.join(' ')}\``);
    expect(doc).toContain(`\`${vector('envelope-reply').frames[0]!.match(/../g)!.join(' ')}\``);
  });

  it('documents the current protocol version and every error code', () => {
    expect(doc).toContain(`**Protocol version ${PROTOCOL_VERSION} (revision 1.3).**`);
    for (const code of [
      'EDGEML_ERROR',
      'EDGEML_TIMEOUT',
      'EDGEML_REMOTE',
      'EDGEML_PROTOCOL',
      'EDGEML_CONFIG_MISMATCH',
    ]) {
      expect(doc).toContain(`\`${code}\``);
    }
    for (const code of [
      'EDGEML_CLOSED',
      'EDGEML_LIMIT',
      'EDGEML_ABORTED',
      'EDGEML_NOT_FOUND',
      'EDGEML_INVALID_ARGUMENT',
    ]) {
      expect(doc).toContain(`\`${code}\``);
    }
  });
});
