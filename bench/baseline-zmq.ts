/**
 * The floor: raw zeromq.js DEALER/ROUTER carrying the same bytes edgeml sends (the frames of an encoded request,
 * encoded once up front). The echo server sends every message straight back; the upload server answers each with the
 * frames of an encoded acknowledgement, also encoded once. No codec, no request ids, no queues: what the network and
 * zeromq.js cost by themselves.
 *
 * @module
 */
import * as zmq from 'zeromq';
import type { Frame } from '../src/wire/codec.js';
import { encodeReply, encodeRequest } from '../src/wire/envelopes.js';
import type { RoundTrip, RoundTripTarget } from './measure.js';
import { ACK, type BenchCase } from './payloads.js';
import { HOST, type Mode } from './target-edgeml.js';

/** Frames of up to 1 GiB, like edgeml's default limit. */
export const SOCKET_OPTIONS = { linger: 0, maxMessageSize: 1024 * 1024 * 1024 };

/** The frames of the upload reply, the same bytes edgeml's server sends. */
const ACK_FRAMES: Frame[] = encodeReply(1, ACK);

/** Starts a raw ROUTER on loopback that answers every message with `answer(message)`. */
async function rawServer(answer: (msg: Buffer[]) => Frame[]): Promise<{ port: number; close: () => Promise<void> }> {
  const router = new zmq.Router({ ...SOCKET_OPTIONS, sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000 });
  await router.bind(`tcp://${HOST}:0`);
  const endpoint = router.lastEndpoint ?? '';
  const port = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
  const serving = (async () => {
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await router.receive();
      } catch {
        return;
      }
      try {
        await router.send(answer(msg));
      } catch {
        if (router.closed) return;
      }
    }
  })();
  return {
    port,
    close: async () => {
      router.close();
      await serving;
    },
  };
}

/** Starts the raw servers: `echo` sends each message back, `upload` answers with the acknowledgement's frames. */
export async function startRawServers(): Promise<{ echo: number; upload: number; close: () => Promise<void> }> {
  const echo = await rawServer((msg) => msg);
  const upload = await rawServer((msg) => [msg[0]!, ...ACK_FRAMES]);
  return {
    echo: echo.port,
    upload: upload.port,
    close: async () => {
      await echo.close();
      await upload.close();
    },
  };
}

/** A raw DEALER connected to the raw server at `port`. */
export function rawDealer(port: number): zmq.Dealer {
  const dealer = new zmq.Dealer({ ...SOCKET_OPTIONS, sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000 });
  dealer.connect(`tcp://${HOST}:${port}`);
  return dealer;
}

/** The frames a raw client sends for case `c`: those of an edgeml request carrying its payload. */
export function requestFrames(c: BenchCase, mode: Mode): Frame[] {
  return encodeRequest(1, 'call', mode, c.payload);
}

/** One raw round trip on `dealer`; resolves with the bytes that came back. */
export async function rawTrip(dealer: zmq.Dealer, frames: Frame[]): Promise<number> {
  await dealer.send(frames);
  const reply = await dealer.receive();
  let n = 0;
  for (const f of reply) n += f.byteLength;
  return n;
}

/** Raw zeromq.js DEALER/ROUTER, one client. */
export class RawZmqTarget implements RoundTripTarget {
  readonly name = 'raw-zmq';
  readonly heavy = false;
  private dealer: zmq.Dealer | undefined;

  constructor(
    private readonly port: number,
    private readonly mode: Mode,
  ) {}

  async open(): Promise<void> {
    this.dealer = rawDealer(this.port);
  }

  supports(): boolean {
    return true;
  }

  async prepare(c: BenchCase): Promise<RoundTrip> {
    const dealer = this.dealer;
    if (!dealer) throw new Error('raw-zmq target is not open');
    const frames = requestFrames(c, this.mode);
    let sent = 0;
    for (const f of frames) sent += f.byteLength;
    let expected = sent;
    if (this.mode === 'upload') expected = ACK_FRAMES.reduce((n, f) => n + f.byteLength, 0);
    if ((await rawTrip(dealer, frames)) !== expected) {
      throw new Error(`raw-zmq ${this.mode} of ${c.name} came back with another size`);
    }
    return async () => {
      await rawTrip(dealer, frames);
    };
  }

  async close(): Promise<void> {
    this.dealer?.close();
    this.dealer = undefined;
  }
}
