import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../src/core/errors.js';
import { lz4Compress, lz4CompressBound, lz4Decompress } from '../src/wire/lz4.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** Data with long and short repeats, runs and noise: exercises literals, near and far matches, overlaps. */
const compressible = fc
  .array(
    fc.oneof(
      fc.tuple(fc.constant('run' as const), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 2000 })),
      fc.tuple(fc.constant('noise' as const), fc.uint8Array({ maxLength: 100 })),
      fc.tuple(fc.constant('copy' as const), fc.nat(), fc.integer({ min: 1, max: 3000 })),
    ),
    { maxLength: 30 },
  )
  .map((parts) => {
    const out: number[] = [];
    for (const p of parts) {
      if (p[0] === 'run') for (let i = 0; i < p[2]; i++) out.push(p[1]);
      else if (p[0] === 'noise') out.push(...p[1]);
      else if (out.length > 0) {
        const from = p[1] % out.length;
        for (let i = 0; i < p[2]; i++) out.push(out[from + (i % (out.length - from))]!);
      }
    }
    return Uint8Array.from(out);
  });

/** Parses a block and checks the format's end-of-block rules, which other decoders rely on. */
function checkEndRules(block: Uint8Array, rawLength: number): void {
  let ip = 0;
  let op = 0;
  let lastMatchStart = -1;
  let lastMatchEnd = 0;
  for (;;) {
    const token = block[ip++]!;
    let lit = token >> 4;
    if (lit === 15) for (let b = 255; b === 255; lit += b) b = block[ip++]!;
    ip += lit;
    op += lit;
    if (ip >= block.length) break;
    ip += 2;
    let len = token & 15;
    if (len === 15) for (let b = 255; b === 255; len += b) b = block[ip++]!;
    lastMatchStart = op;
    op += len + 4;
    lastMatchEnd = op;
  }
  expect(op).toBe(rawLength);
  if (lastMatchStart >= 0) {
    expect(rawLength - lastMatchStart).toBeGreaterThanOrEqual(12);
    expect(rawLength - lastMatchEnd).toBeGreaterThanOrEqual(5);
  }
}

describe('lz4 block', () => {
  it('round-trips any bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (data) => {
        const block = lz4Compress(data)!;
        expect(block.length).toBeLessThanOrEqual(lz4CompressBound(data.length));
        expect(lz4Decompress(block, data.length)).toEqual(data);
      }),
    );
  });

  it('round-trips compressible data and follows the end-of-block rules (property)', () => {
    fc.assert(
      fc.property(compressible, (data) => {
        const block = lz4Compress(data)!;
        checkEndRules(block, data.length);
        expect(Buffer.from(lz4Decompress(block, data.length)).equals(Buffer.from(data))).toBe(true);
      }),
    );
  });

  it('compresses repetitive data well and finds matches up to 64 KiB back', () => {
    const zeros = new Uint8Array(1 << 20);
    expect(lz4Compress(zeros)!.length).toBeLessThan(5000);
    const chunk = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff);
    const far = new Uint8Array(62_000);
    far.set(chunk, 0);
    far.set(chunk, 61_000);
    const block = lz4Compress(far)!;
    expect(lz4Decompress(block, far.length)).toEqual(far);
    expect(block.length).toBeLessThan(1000 + 2000);
  });

  it('gives up when the output would exceed maxOutput', () => {
    const noise = new Uint8Array(randomBytes(4096));
    expect(lz4Compress(noise, noise.length - 1)).toBeUndefined();
    const zeros = new Uint8Array(4096);
    const block = lz4Compress(zeros, 100)!;
    expect(block.length).toBeLessThanOrEqual(100);
    expect(lz4Compress(zeros, 5)).toBeUndefined();
  });

  it('encodes an empty input as one zero token', () => {
    expect([...lz4Compress(new Uint8Array(0))!]).toEqual([0]);
    expect(lz4Decompress(Uint8Array.of(0), 0)).toEqual(new Uint8Array(0));
  });

  it('decodes hand-written blocks, including overlapping matches', () => {
    expect([...lz4Decompress(hex('4001020304'), 4)]).toEqual([1, 2, 3, 4]);
    // "a", then a match of offset 1 and length 4 + 15 + 2, then 5 literal bytes.
    const run = lz4Decompress(hex('1f61010002' + '506263646566'), 1 + 21 + 5);
    expect(Buffer.from(run).toString()).toBe(`${'a'.repeat(22)}bcdef`);
    // "abc", then a match of offset 3 and length 4 + 15 + 255 + 26 = 300: the pattern repeats.
    const pattern = lz4Decompress(hex(`3f6162630300ff1a${'5078797a7778'}`), 3 + 300 + 5);
    expect(Buffer.from(pattern).toString()).toBe(`${'abc'.repeat(101)}xyzwx`);
  });

  it('rejects corrupt blocks with a ProtocolError naming the problem', () => {
    const cases: [string, number, RegExp][] = [
      ['', 0, /empty block/],
      ['40010203', 4, /literals run past the end of the block/],
      ['4001020304', 3, /literals run past the declared size/],
      ['4001020304', 5, /decodes to 4 bytes, 5 declared/],
      ['1061000050000000000000', 10, /match offset 0/],
      ['1061020050000000000000', 10, /match offset 2 at output position 1/],
      ['106101', 10, /truncated match offset/],
      ['1f6101', 30, /truncated (length|match offset)/],
      ['1f610100ffff', 30, /truncated length/],
      ['1f610100ff00', 30, /match runs past the declared size/],
      ['f0', 20, /truncated length/],
      ['10610100', 5, /truncated sequence/],
      ['4001020304', 2000, /cannot decode to 2000 bytes/],
      ['4001020304', -1, /invalid size/],
      ['4001020304', 1.5, /invalid size/],
    ];
    for (const [block, size, message] of cases) {
      let error: unknown;
      try {
        lz4Decompress(hex(block), size);
      } catch (e) {
        error = e;
      }
      expect(error, `${block} (${size})`).toBeInstanceOf(ProtocolError);
      expect(String(error)).toMatch(message);
    }
  });

  it('only ever throws ProtocolError on corrupt input, and never writes past the declared size (property)', () => {
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i % 97) ^ (i >> 9));
    const block = lz4Compress(data)!;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat({ max: 20 }),
        fc.integer({ min: -10, max: 10 }),
        (edits, cut, sizeDelta) => {
          const b = new Uint8Array(block);
          for (const [at, byte] of edits) b[at % b.length] = byte;
          const size = data.length + sizeDelta;
          try {
            const out = lz4Decompress(b.subarray(0, b.length - cut), size);
            expect(out.length).toBe(size);
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        },
      ),
    );
  });

  it('rejects every truncation of a valid block', () => {
    const data = Uint8Array.from({ length: 3000 }, (_, i) => (i % 50) + (i % 7));
    const block = lz4Compress(data)!;
    for (let n = 0; n < block.length; n++) {
      expect(() => lz4Decompress(block.subarray(0, n), data.length)).toThrow(ProtocolError);
    }
  });
});

function pythonWithLz4(): string | undefined {
  for (const py of [process.env.EDGEML_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    const r = spawnSync(py, ['-c', 'import lz4.block'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return undefined;
}

const python = pythonWithLz4();

describe('interoperability with the reference LZ4 library', () => {
  it.skipIf(python === undefined)(
    'python lz4.block decodes our blocks, and we decode its blocks (skipped without python3 + lz4)',
    () => {
      const inputs = [
        new Uint8Array(0),
        Uint8Array.of(1, 2, 3),
        new Uint8Array(100_000),
        Uint8Array.from({ length: 70_000 }, (_, i) => ((i * 31) % 1009) & 0xff),
        Uint8Array.from({ length: 20_000 }, (_, i) => (i % 3000 < 1500 ? i & 0xff : (i * i) & 0xff)),
      ];
      const ours = inputs.map((d) => ({
        raw: Buffer.from(d).toString('hex'),
        block: Buffer.from(lz4Compress(d)!).toString('hex'),
      }));
      const script = [
        'import json, sys, lz4.block',
        'cases = json.load(sys.stdin)',
        'out = []',
        'for c in cases:',
        '    raw = bytes.fromhex(c["raw"])',
        '    assert lz4.block.decompress(bytes.fromhex(c["block"]), uncompressed_size=len(raw)) == raw',
        '    out.append(lz4.block.compress(raw, store_size=False).hex())',
        'print(json.dumps(out))',
      ].join('\n');
      const r = spawnSync(python!, ['-c', script], { input: JSON.stringify(ours), encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const theirs = JSON.parse(r.stdout) as string[];
      theirs.forEach((block, i) => {
        expect(lz4Decompress(hex(block), inputs[i]!.length)).toEqual(inputs[i]);
      });
    },
  );
});
