/**
 * Property-based fuzzing (fast-check) of the decoder and of a live server.
 *
 * (a) The decoder, fed random bytes and mutations of valid messages (golden vectors, `encodeMessage` of arbitrary
 * values, request envelopes): bit flips, byte writes, truncations, splices, deletions, edits of msgpack length fields,
 * frames dropped, duplicated, swapped, added or misaligned. Decoding either succeeds or throws a `ProtocolError` or
 * `LimitError`, nothing else, also under tight limits; reading a request id never throws; no prototype changes.
 * (b) A live `InferenceServer` fed batches of mutated request frames through a raw ZeroMQ DEALER: it never crashes,
 * answers exactly the messages whose request id can be read (a request that decodes gets an answer; one that does
 * not, an `err` envelope with a `ProtocolError` or `LimitError`), never reports an internal error that is not an
 * edgeml error, and keeps answering a legitimate client between batches.
 *
 * (c) Bombs: headers of many small values (arrays of empty maps, nested arrays, fixints) under a random `maxValues`,
 * refused with `LimitError` exactly when they hold more values than the limit; LZ4 frames (valid blocks of runs, or
 * random bytes) declaring random decompressed sizes, refused with `LimitError` whenever the declared total exceeds
 * `maxMessageBytes`, and never allocating beyond it.
 *
 * Runs per property: env `FUZZ_RUNS` (default {@link DEFAULT_RUNS}, a few seconds); `npm run fuzz` runs many more and
 * prints the counts (written to the file named by env `FUZZ_REPORT`).
 */
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { InferenceClient, InferenceServer, LimitError, ProtocolError, Tensor } from '../src/index.js';
import { type DecodeLimits, decodeMessage, type EncodeOptions, encodeMessage, type Frame } from '../src/wire/codec.js';
import { decodeEnvelope, type Envelope, encodeRequest, peekRequestId } from '../src/wire/envelopes.js';
import { lz4Compress } from '../src/wire/lz4.js';
import { MsgpackWriter } from '../src/wire/msgpack-writer.js';
import { HOST, within } from './helpers.js';
import vectors from './vectors/vectors.json' with { type: 'json' };

const DEFAULT_RUNS = 300;
const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? DEFAULT_RUNS) || DEFAULT_RUNS);
/** Per-test timeout: generous, growing with the number of runs. */
const TIMEOUT = Math.max(30_000, RUNS * 20);
const counts = {
  decoder: 0,
  decoderAccepted: 0,
  decoderRandom: 0,
  envelope: 0,
  liveCases: 0,
  liveMessages: 0,
  liveAnswers: 0,
  valueBombs: 0,
  valueBombsRefused: 0,
  lz4Bombs: 0,
  lz4BombsRefused: 0,
};

afterAll(() => {
  const report = process.env.FUZZ_REPORT;
  if (report) writeFileSync(report, JSON.stringify({ runs: RUNS, ...counts }));
});

// ---- Valid messages to start from ------------------------------------------------------------------------------

const golden: Frame[][] = (vectors as { frames: string[] }[]).map((v) => v.frames.map((h) => Buffer.from(h, 'hex')));

const key = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'p', 'id'));
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ minLength: 1000, maxLength: 1100 }),
  // Compressible: one byte repeated (exercises the LZ4 path when compression is on).
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 4096 }))
    .map(([b, n]) => new Uint8Array(n).fill(b)),
);
const typed = fc.oneof(
  fc.float32Array({ maxLength: 32 }),
  fc.float64Array({ maxLength: 16 }),
  fc.int16Array({ maxLength: 32 }),
  fc.int32Array({ maxLength: 32 }),
  fc.bigInt64Array({ maxLength: 8 }),
  fc.uint16Array({ maxLength: 32 }),
);
const tensor = fc
  .tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.float32Array({ maxLength: 0 }))
  .map(([a, b]) => new Tensor('float32', new Float32Array(a * b).fill(a - b), [a, b]));
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.string({ maxLength: 40 }),
    bytes,
    typed,
    tensor,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
  ),
}));
const encodeOptions: fc.Arbitrary<EncodeOptions> = fc.record(
  {
    inlineBytesMax: fc.integer({ min: 0, max: 2048 }),
    compression: fc.record({ codec: fc.constant('lz4' as const), minBytes: fc.integer({ min: 0, max: 256 }) }),
  },
  { requiredKeys: [] },
);
const request = fc
  .tuple(
    fc.integer({ min: 0, max: 1_000_000 }),
    fc.constantFrom('call', 'ping', 'interfaces', 'no-such-method'),
    fc.constantFrom('echo', 'missing', undefined),
    value,
    encodeOptions,
  )
  .map(([id, method, name, payload, opts]) => encodeRequest(id, method, name, payload, opts));
const valid = fc.oneof(
  fc.constantFrom(...golden),
  fc.tuple(value, encodeOptions).map(([v, opts]) => encodeMessage(v, opts)),
  request,
);

// ---- Mutations -------------------------------------------------------------------------------------------------

/** Type bytes of msgpack values followed by a length field, with the field's width. */
// biome-ignore format: a table
const LENGTH_FIELDS = new Map([
  [0xc4, 1], [0xc5, 2], [0xc6, 4], // bin 8/16/32
  [0xc7, 1], [0xc8, 2], [0xc9, 4], // ext 8/16/32
  [0xd9, 1], [0xda, 2], [0xdb, 4], // str 8/16/32
  [0xdc, 2], [0xdd, 4], [0xde, 2], [0xdf, 4], // array 16/32, map 16/32
]);
const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0xffffffff];

type Mutation =
  | { kind: 'flip'; frame: number; pos: number; bit: number }
  | { kind: 'set'; frame: number; pos: number; byte: number }
  | { kind: 'truncate'; frame: number; len: number }
  | { kind: 'splice'; frame: number; pos: number; insert: Uint8Array }
  | { kind: 'delete'; frame: number; pos: number; len: number }
  | { kind: 'length'; frame: number; which: number; value: number }
  | { kind: 'drop' | 'dup' | 'misalign'; frame: number }
  | { kind: 'swap'; frame: number; other: number }
  | { kind: 'add'; insert: Uint8Array };

const nat = fc.nat({ max: 1 << 16 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), frame: nat, pos: nat, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), frame: nat, pos: nat, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), frame: nat, len: nat }),
  fc.record({ kind: fc.constant('splice' as const), frame: nat, pos: nat, insert: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), frame: nat, pos: nat, len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('length' as const), frame: nat, which: nat, value: fc.constantFrom(...INTERESTING) }),
  fc.record({ kind: fc.constantFrom('drop' as const, 'dup' as const, 'misalign' as const), frame: nat }),
  fc.record({ kind: fc.constant('swap' as const), frame: nat, other: nat }),
  fc.record({ kind: fc.constant('add' as const), insert: fc.uint8Array({ maxLength: 32 }) }),
);

function copy(frame: Frame, offset = 0): Frame {
  const out = new Uint8Array(frame.byteLength + offset).subarray(offset);
  out.set(frame);
  return out;
}

function writeLength(frame: Frame, pos: number, width: number, v: number): void {
  for (let i = width - 1; i >= 0 && pos < frame.length; i--, pos++) frame[pos] = Math.floor(v / 256 ** i) & 0xff;
}

/** `frames` after `mutations`, as new buffers (the input is never modified). */
function mutate(frames: readonly Frame[], mutations: readonly Mutation[]): Frame[] {
  const out = frames.map((f) => copy(f));
  for (const m of mutations) {
    if (m.kind === 'add') {
      out.push(copy(m.insert));
      continue;
    }
    if (out.length === 0) continue;
    const i = m.frame % out.length;
    const f = out[i]!;
    switch (m.kind) {
      case 'flip':
        if (f.length > 0) f[m.pos % f.length]! ^= 1 << m.bit;
        break;
      case 'set':
        if (f.length > 0) f[m.pos % f.length] = m.byte;
        break;
      case 'truncate':
        out[i] = f.subarray(0, m.len % (f.length + 1));
        break;
      case 'splice': {
        const at = m.pos % (f.length + 1);
        out[i] = Buffer.concat([f.subarray(0, at), m.insert, f.subarray(at)]);
        break;
      }
      case 'delete': {
        const at = m.pos % (f.length + 1);
        out[i] = Buffer.concat([f.subarray(0, at), f.subarray(at + m.len)]);
        break;
      }
      case 'length': {
        const fields: number[] = [];
        for (let p = 0; p < f.length; p++) if (LENGTH_FIELDS.has(f[p]!)) fields.push(p);
        const at = fields[m.which % Math.max(1, fields.length)];
        if (at !== undefined) writeLength(f, at + 1, LENGTH_FIELDS.get(f[at]!)!, m.value);
        break;
      }
      case 'drop':
        out.splice(i, 1);
        break;
      case 'dup':
        out.splice(i, 0, copy(f));
        break;
      case 'misalign':
        out[i] = copy(f, 1 + (m.frame % 7));
        break;
      case 'swap': {
        const j = m.other % out.length;
        [out[i], out[j]] = [out[j]!, f];
        break;
      }
    }
  }
  return out;
}

const mutated = fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([f, m]) => mutate(f, m));
const randomFrames = fc.array(fc.uint8Array({ maxLength: 128 }), { maxLength: 4 });
const limits: fc.Arbitrary<DecodeLimits | undefined> = fc.option(
  fc.record(
    {
      maxFrames: fc.integer({ min: 0, max: 4 }),
      maxMessageBytes: fc.integer({ min: 0, max: 8192 }),
      maxHeaderBytes: fc.integer({ min: 0, max: 256 }),
      maxDepth: fc.integer({ min: 0, max: 8 }),
      maxStringBytes: fc.integer({ min: 0, max: 64 }),
      maxCollectionLength: fc.integer({ min: 0, max: 16 }),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);

/** Runs `decode`; a `ProtocolError` or `LimitError` is a rejection, anything else thrown fails the property. */
function decodesOrRejects(decode: () => unknown): 'ok' | 'rejected' {
  try {
    decode();
    return 'ok';
  } catch (e) {
    if (e instanceof ProtocolError || e instanceof LimitError) return 'rejected';
    throw e;
  }
}

const prototypeKeys = (): string[] => Object.getOwnPropertyNames(Object.prototype).sort();

describe('fuzz: decoder', () => {
  const protoBefore = prototypeKeys();

  it('valid messages decode (the mutations below start from valid input)', () => {
    fc.assert(
      fc.property(valid, (frames) => {
        decodeMessage(frames);
      }),
      { numRuns: Math.min(RUNS, 200) },
    );
  });

  it('mutated valid messages decode or throw ProtocolError/LimitError, also under tight limits', {
    timeout: TIMEOUT,
  }, () => {
    fc.assert(
      fc.property(mutated, limits, (frames, lim) => {
        counts.decoder++;
        if (decodesOrRejects(() => decodeMessage(frames, lim)) === 'ok') counts.decoderAccepted++;
        decodesOrRejects(() => decodeEnvelope(frames, lim));
        const id = peekRequestId(frames);
        expect(id === undefined || (Number.isInteger(id) && id >= 0)).toBe(true);
      }),
      { numRuns: RUNS },
    );
    expect(prototypeKeys()).toEqual(protoBefore);
  });

  it('random frames decode or throw ProtocolError/LimitError', { timeout: TIMEOUT }, () => {
    fc.assert(
      fc.property(randomFrames, limits, (frames, lim) => {
        counts.decoderRandom++;
        decodesOrRejects(() => decodeMessage(frames, lim));
        peekRequestId(frames);
      }),
      { numRuns: RUNS },
    );
    expect(prototypeKeys()).toEqual(protoBefore);
  });

  it('mutated request envelopes: a rejected one has a readable id or none, never an exception', {
    timeout: TIMEOUT,
  }, () => {
    fc.assert(
      fc.property(fc.tuple(request, fc.array(mutation, { minLength: 1, maxLength: 3 })), ([frames, muts]) => {
        counts.envelope++;
        const m = mutate(frames, muts);
        if (decodesOrRejects(() => decodeEnvelope(m)) === 'rejected') peekRequestId(m);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- Bombs -------------------------------------------------------------------------------------------------------

/** A header of many cheap values, and how many values it holds (as maxValues counts them). */
type Bomb = { bytes: Uint8Array; values: number };
const bombPart: fc.Arbitrary<Bomb> = fc.oneof(
  // An array of n empty maps (0x80): n + 1 values in n + 5 bytes.
  fc.nat({ max: 3000 }).map((n) => {
    const b = new Uint8Array(5 + n).fill(0x80);
    b[0] = 0xdd;
    new DataView(b.buffer).setUint32(1, n);
    return { bytes: b, values: n + 1 };
  }),
  // A map of n entries of one-byte key and nil: 2n + 1 values.
  fc.nat({ max: 1500 }).map((n) => {
    // Keys are distinct uint16 ints, values nil.
    const out = new Uint8Array(5 + 4 * n);
    out[0] = 0xdf;
    new DataView(out.buffer).setUint32(1, n);
    for (let i = 0; i < n; i++) out.set([0xcd, i >> 8, i & 0xff, 0xc0], 5 + 4 * i);
    return { bytes: out, values: 2 * n + 1 };
  }),
  // Arrays nested d deep around a fixint: d + 1 values.
  fc.integer({ min: 0, max: 60 }).map((d) => {
    const b = new Uint8Array(d + 1).fill(0x91);
    b[d] = 0x01;
    return { bytes: b, values: d + 1 };
  }),
);
const bomb: fc.Arbitrary<Bomb> = fc.array(bombPart, { minLength: 1, maxLength: 6 }).map((parts) => {
  const size = parts.reduce((n, p) => n + p.bytes.length, 3);
  const bytes = new Uint8Array(size);
  bytes.set([0xdc, parts.length >> 8, parts.length & 0xff]);
  let at = 3;
  for (const p of parts) {
    bytes.set(p.bytes, at);
    at += p.bytes.length;
  }
  return { bytes, values: 1 + parts.reduce((n, p) => n + p.values, 0) };
});

/** A compressed block: a valid one of a run of bytes, or random bytes. */
const lz4Block = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 200_000 })).map(([b, n]) => ({
    block: lz4Compress(new Uint8Array(n).fill(b))!,
    raw: n,
  })),
  fc.uint8Array({ minLength: 1, maxLength: 256 }).map((block) => ({ block, raw: block.length })),
);
const lz4Bomb = fc.record({
  blocks: fc.array(lz4Block, { minLength: 1, maxLength: 3 }),
  // Declared sizes: the true one, or anything up to 4 GiB (most beyond the ratio rule or the limit).
  declared: fc.array(fc.oneof(fc.constant(-1), fc.nat({ max: 2 ** 32 })), { minLength: 3, maxLength: 3 }),
  maxMessageBytes: fc.integer({ min: 1, max: 1 << 20 }),
});

/** The frames of an array of compressed byte strings, with the declared sizes, and the declared size of frame 1. */
function lz4Message(input: { blocks: { block: Uint8Array; raw: number }[]; declared: number[] }): {
  frames: Frame[];
  declaredTotal: number;
  firstTotal: number;
} {
  const { blocks, declared } = input;
  const refs: [number, 'lz4', number][] = blocks.map((x, i) => [i + 1, 'lz4', declared[i]! < 0 ? x.raw : declared[i]!]);
  const w = new MsgpackWriter();
  w.arrayHeader(refs.length);
  for (const ref of refs) {
    const body = new MsgpackWriter();
    body.arrayHeader(3);
    body.int(ref[0]);
    body.string('lz4');
    body.int(ref[2]);
    w.ext(1, body.finish());
  }
  const header = w.finish();
  const rest = blocks.slice(1).reduce((n, x) => n + x.block.byteLength, 0);
  return {
    frames: [header, ...blocks.map((x) => x.block)],
    declaredTotal: header.byteLength + refs.reduce((n, r) => n + r[2], 0),
    firstTotal: header.byteLength + rest + refs[0]![2],
  };
}

describe('fuzz: bombs', () => {
  it('value-count bombs are refused with LimitError exactly when they hold more than maxValues', {
    timeout: TIMEOUT,
  }, () => {
    fc.assert(
      fc.property(bomb, fc.integer({ min: 1, max: 12_000 }), ({ bytes, values }, maxValues) => {
        counts.valueBombs++;
        let error: unknown;
        try {
          decodeMessage([bytes], { maxValues });
        } catch (e) {
          error = e;
        }
        if (values > maxValues) {
          counts.valueBombsRefused++;
          expect(error).toBeInstanceOf(LimitError);
        } else expect(error).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  });

  it('decompression bombs: a declared total over maxMessageBytes is a LimitError; nothing else but ProtocolError', {
    timeout: TIMEOUT,
  }, () => {
    fc.assert(
      fc.property(lz4Bomb, (input) => {
        counts.lz4Bombs++;
        const { frames, declaredTotal, firstTotal } = lz4Message(input);
        let error: unknown;
        let value: unknown;
        try {
          value = decodeMessage(frames, { maxMessageBytes: input.maxMessageBytes });
        } catch (e) {
          error = e;
        }
        if (error !== undefined) {
          counts.lz4BombsRefused++;
          expect(error instanceof LimitError || error instanceof ProtocolError).toBe(true);
        }
        // Frame 1 is checked first: over the limit with it alone, the answer is a LimitError whatever follows.
        if (firstTotal > input.maxMessageBytes) expect(error).toBeInstanceOf(LimitError);
        if (declaredTotal > input.maxMessageBytes) expect(error).toBeDefined();
        if (error === undefined) {
          const out = value as Uint8Array[];
          expect(out.reduce((n, b) => n + b.byteLength, frames[0]!.byteLength)).toBeLessThanOrEqual(
            input.maxMessageBytes,
          );
        }
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- Live server ------------------------------------------------------------------------------------------------

/** What the server must answer to `frames`: nothing, any answer to `id`, or an `err` to `id`. */
function expectedAnswer(frames: Frame[]): { id: number; err: boolean } | undefined {
  let env: Envelope;
  try {
    env = decodeEnvelope(frames);
  } catch {
    const id = peekRequestId(frames);
    return id === undefined ? undefined : { id, err: true };
  }
  return env.kind === 'req' ? { id: env.id, err: false } : undefined;
}

describe('fuzz: live inference server', () => {
  let server: InferenceServer;
  let legit: InferenceClient;
  let dealer: zmq.Dealer;

  beforeAll(async () => {
    server = new InferenceServer({ port: 0, host: HOST });
    server.registerInterface('echo', (p) => p);
    await server.start();
    legit = new InferenceClient(HOST, server.port, { timeoutMs: 10_000 });
    dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(`tcp://${HOST}:${server.port}`);
  });

  afterAll(async () => {
    dealer?.close();
    legit?.close();
    await server?.stop();
  });

  let syncId = 4_000_000_000;
  /** Sends a valid ping after the batch and returns every envelope received before its reply. */
  async function answersUpToSync(): Promise<Envelope[]> {
    const id = ++syncId;
    await dealer.send(encodeRequest(id, 'ping', undefined, null));
    const seen: Envelope[] = [];
    for (;;) {
      const env = decodeEnvelope(await within(dealer.receive(), 10_000, 'an answer from the server'));
      if (env.kind === 'rep' && env.id === id) return seen;
      seen.push(env);
    }
  }

  it('answers mutated requests as the protocol says, never crashes, keeps serving a legitimate client', {
    timeout: TIMEOUT,
  }, async () => {
    let n = 0;
    const batch = fc.array(fc.oneof({ weight: 5, arbitrary: mutated }, { weight: 1, arbitrary: randomFrames }), {
      minLength: 1,
      maxLength: 4,
    });
    await fc.assert(
      fc.asyncProperty(batch, async (messages) => {
        counts.liveCases++;
        const expected: { id: number; err: boolean }[] = [];
        for (const frames of messages) {
          const sendable = frames.length > 0 ? frames : [new Uint8Array(0)];
          const e = expectedAnswer(sendable);
          if (e) expected.push(e);
          counts.liveMessages++;
          await dealer.send(sendable);
        }
        const answers = await answersUpToSync();
        counts.liveAnswers += answers.length;
        const ids = (list: { id: number }[]): number[] => list.map((a) => a.id).sort((a, b) => a - b);
        expect(answers.every((a) => a.kind === 'rep' || a.kind === 'err')).toBe(true);
        expect(ids(answers as { id: number }[])).toEqual(ids(expected));
        for (const a of answers) {
          if (a.kind !== 'err') continue;
          // An internal error that is not an edgeml error would travel as EDGEML_REMOTE; echo never throws.
          expect(a.error.code).not.toBe('EDGEML_REMOTE');
        }
        const decodable = new Set(expected.filter((x) => !x.err).map((x) => x.id));
        for (const e of expected.filter((x) => x.err && !decodable.has(x.id))) {
          const errs = answers.filter((a) => a.kind === 'err' && a.id === e.id);
          expect(errs.length).toBeGreaterThan(0);
          for (const a of errs)
            if (a.kind === 'err') expect(['EDGEML_PROTOCOL', 'EDGEML_LIMIT']).toContain(a.error.code);
        }
        if (++n % 10 === 0) expect(await legit.call('echo', { n })).toEqual({ n });
      }),
      { numRuns: RUNS },
    );
    expect(await legit.call('echo', 'still serving')).toBe('still serving');
    expect(server.stats().malformed).toBeGreaterThan(0);
  });
});
