/**
 * Tools of the hostile-peer suite: a raw ZeroMQ DEALER that sends hand-built msgpack (bytes the client library would
 * refuse to send), the memory of a child process from /proc, and a fixture's `stats` line.
 */
import { readFileSync } from 'node:fs';
import * as zmq from 'zeromq';
import { decodeEnvelope, type Envelope } from '../../src/wire/envelopes.js';
import { MsgpackWriter } from '../../src/wire/msgpack-writer.js';
import type { Fixture } from '../faults/child.js';
import { HOST, waitFor, within } from '../helpers.js';

/** Peak and current resident memory of process `pid`, in MB (VmHWM and VmRSS of /proc/PID/status). */
export function memoryOf(pid: number): { peakMB: number; rssMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peakMB: Math.round(kb('VmHWM') / 1024), rssMB: Math.round(kb('VmRSS') / 1024) };
}

/** The msgpack bytes written by `build`. */
export function mp(build: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter();
  build(w);
  return new Uint8Array(w.finish());
}

/** An ext value whose body is the msgpack written by `body`. */
export function ext(w: MsgpackWriter, type: number, body: (b: MsgpackWriter) => void): void {
  w.ext(type, mp(body));
}

/**
 * The header of a request `{v: 1, k: "req", id, m, n?, p}` whose payload `p` is the raw msgpack bytes `payload`
 * (concatenated, never parsed: they may be anything).
 */
export function request(id: number, method: string, name: string | undefined, payload: Uint8Array): Uint8Array {
  const head = mp((w) => {
    w.mapHeader(name === undefined ? 5 : 6);
    w.string('v');
    w.int(1);
    w.string('k');
    w.string('req');
    w.string('id');
    w.int(id);
    w.string('m');
    w.string(method);
    if (name !== undefined) {
      w.string('n');
      w.string(name);
    }
    w.string('p');
  });
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/**
 * A payload of `parts` arrays of `each` empty maps: `parts × (each + 1) + 1` values in about as many bytes, every
 * array within maxCollectionLength. 16 × 999 999 fills a 16 MiB header.
 */
export function emptyMapBomb(parts: number, each: number): Uint8Array {
  const out = new Uint8Array(3 + parts * (5 + each)).fill(0x80);
  const view = new DataView(out.buffer);
  out[0] = 0xdc;
  view.setUint16(1, parts);
  for (let i = 0; i < parts; i++) {
    const at = 3 + i * (5 + each);
    out[at] = 0xdd;
    view.setUint32(at + 1, each);
  }
  return out;
}

/** A raw DEALER connected to a server, matching replies to request ids. */
export class Attacker {
  readonly dealer = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 0, sendHighWaterMark: 0 });
  private readonly replies = new Map<number, { env: Envelope; bytes: number }>();
  private readonly waiting = new Map<number, () => void>();
  private closed = false;

  constructor(port: number) {
    this.dealer.connect(`tcp://${HOST}:${port}`);
    void this.pump();
  }

  private async pump(): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await this.dealer.receive();
      } catch {
        return;
      }
      let env: Envelope;
      // Generous limits: an unpatched server may answer with replies of hundreds of MB (and that is measured).
      try {
        env = decodeEnvelope(frames, {
          maxMessageBytes: 2 * 1024 ** 3,
          maxHeaderBytes: 2 * 1024 ** 3,
          maxStringBytes: 2 * 1024 ** 3,
        });
      } catch {
        continue; // not an envelope: no reply to match
      }
      if (env.kind !== 'rep' && env.kind !== 'err') continue;
      this.replies.set(env.id, { env, bytes: frames.reduce((n, f) => n + f.byteLength, 0) });
      this.waiting.get(env.id)?.();
    }
  }

  send(frames: Uint8Array[]): Promise<void> {
    return this.dealer.send(frames);
  }

  /** The reply to request `id` and its size in bytes, within `timeoutMs`. */
  async reply(id: number, timeoutMs = 15_000): Promise<{ env: Envelope; bytes: number }> {
    const got = this.replies.get(id);
    if (got) return got;
    await within(
      new Promise<void>((resolve) => this.waiting.set(id, resolve)),
      timeoutMs,
      `the reply to request ${id}`,
    );
    return this.replies.get(id)!;
  }

  /** The error code of the reply to `id` (`undefined` for a successful reply). */
  async errorCode(id: number, timeoutMs?: number): Promise<string | undefined> {
    const { env } = await this.reply(id, timeoutMs);
    return env.kind === 'err' ? env.error.code : undefined;
  }

  close(): void {
    this.closed = true;
    this.dealer.close();
  }
}

/** Asks a hostile-server fixture for its `stats` line and parses it. */
export async function statsOf(fixture: Fixture): Promise<{
  maxStallMs: number;
  callbacks: number;
  rpc: { malformed: number; errors: number; requests: number };
  table?: { size: number; bytes: number; maxBytes: number; dropped: number; rejected: number };
}> {
  const before = fixture.lines.length;
  fixture.send('stats');
  let found: string | undefined;
  await waitFor(
    () => {
      found = fixture.lines.slice(before).find((l) => l.startsWith('stats '));
      return found !== undefined;
    },
    `a stats line (stderr: ${fixture.stderr()})`,
    10_000,
  );
  return JSON.parse(found!.slice('stats '.length));
}
