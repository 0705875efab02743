/**
 * Case set "codec": what edgeml's codec costs per message, in a hot loop (no sockets): encoding and decoding the
 * request and the reply of each payload case. Not compared with a baseline (the floor has no codec); it says how much
 * of a round trip's difference to the floor is the codec, the rest being request bookkeeping, promise hops and
 * caches (see docs/performance.md).
 *
 * @module
 */
import { decodeEnvelope, encodeReply, encodeRequest } from '../src/wire/envelopes.js';
import { quantile, type ResultRow } from './measure.js';
import { type CaseName, makeCase } from './payloads.js';

/** Payloads measured. */
export const CODEC_CASES: readonly CaseName[] = ['small', 'img224', 'cams4'];
/** Calls per timed batch, and batches per operation (the median batch is reported). */
const PER_BATCH = 2_000;
const BATCHES = 15;

function microseconds(op: () => unknown): number {
  for (let i = 0; i < PER_BATCH; i++) op();
  const times = new Float64Array(BATCHES);
  for (let b = 0; b < BATCHES; b++) {
    const t = performance.now();
    for (let i = 0; i < PER_BATCH; i++) op();
    times[b] = ((performance.now() - t) * 1000) / PER_BATCH;
  }
  return quantile(times.sort(), 0.5);
}

/** Runs the codec set: one row per payload, the four operations as figures. */
export function runCodec(progress?: (line: string) => void): ResultRow[] {
  progress?.('codec costs ...');
  return CODEC_CASES.map((name) => {
    const c = makeCase(name);
    const request = encodeRequest(7, 'call', 'echo', c.payload);
    const reply = encodeReply(7, c.payload);
    const us = {
      encodeRequest: microseconds(() => encodeRequest(7, 'call', 'echo', c.payload)),
      decodeRequest: microseconds(() => decodeEnvelope(request)),
      encodeReply: microseconds(() => encodeReply(7, c.payload)),
      decodeReply: microseconds(() => decodeEnvelope(reply)),
    };
    const total = us.encodeRequest + us.decodeRequest + us.encodeReply + us.decodeReply;
    return {
      set: 'codec',
      case: name,
      description: c.description,
      target: 'edgeml',
      bytes: c.bytes,
      count: BATCHES * PER_BATCH,
      p50: total / 1000,
      p90: Number.NaN,
      p99: Number.NaN,
      mean: Number.NaN,
      mbPerSec: 0,
      callsPerSec: 1e6 / total,
      extra: { ...us, totalUs: total },
    };
  });
}
