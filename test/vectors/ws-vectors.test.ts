/** The WebSocket framing against its golden vectors (test/vectors/ws-vectors.json). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { decodeWsMessage, encodeWsMessage, WsKind, wsMessageParts } from '../../src/transport/ws/framing.js';
import { buildWsFile, type WsVectors } from './generate-ws.js';

const here = dirname(fileURLToPath(import.meta.url));
const file = JSON.parse(readFileSync(join(here, 'ws-vectors.json'), 'utf8')) as WsVectors;
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

describe('WebSocket framing vectors', () => {
  it('are up to date with the generator (run `npm run vectors` after a format change)', () => {
    expect(JSON.parse(JSON.stringify(buildWsFile()))).toEqual(file);
  });

  it('cover every kind', () => {
    expect(new Set(file.valid.map((v) => v.kind))).toEqual(new Set(Object.keys(WsKind)));
  });

  it.each(file.valid.map((v) => [v.name, v]))('%s decodes to its frames, in place, and encodes back', (_n, v) => {
    // An ArrayBuffer of exactly the message, as a browser receives it.
    const message = bytes(v.message);
    const msg = decodeWsMessage(message, file.maxFrames);
    expect(msg.kind).toBe(WsKind[v.kind as keyof typeof WsKind]);
    expect(msg.frames.map(hex)).toEqual(v.frames);
    for (const f of msg.frames) {
      // Views into the message, no copies, each at a multiple of 8.
      expect(f.buffer).toBe(message.buffer);
      expect(f.byteOffset % 8).toBe(0);
    }
    expect(hex(encodeWsMessage(msg.kind, msg.frames))).toBe(v.message);
    const parts = wsMessageParts(msg.kind, msg.frames);
    expect(parts.map(hex).join('')).toBe(v.message);
  });

  it('lets a browser view a float32 tensor in place', () => {
    const v = file.valid.find((x) => x.name === 'reply-tensor')!;
    const message = bytes(v.message);
    const data = decodeWsMessage(message, file.maxFrames).frames[1]!;
    expect([...new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4)]).toEqual([1, 2, 3]);
  });

  it.each(file.invalid.map((v) => [v.name, v]))('%s is rejected with ProtocolError', (_n, v) => {
    expect(() => decodeWsMessage(bytes(v.message), file.maxFrames)).toThrow(ProtocolError);
  });

  const python = ['python3', '/usr/bin/python3'].find((py) => spawnSync(py, ['--version']).status === 0);
  it.skipIf(python === undefined)('check_ws_vectors.py (Python 3 standard library only) agrees', () => {
    const r = spawnSync(python!, [join(here, 'check_ws_vectors.py')], { encoding: 'utf8' });
    expect(r.stdout).toContain('0 failures');
    expect(r.status).toBe(0);
  });
});
