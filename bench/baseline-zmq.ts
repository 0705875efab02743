/**
 * The floor: a raw zeromq.js DEALER/ROUTER echo of the same bytes edgeml sends (the frames of an encoded request,
 * encoded once up front), echoed back unchanged. No codec, no request ids, no queue: what the network and zeromq.js
 * cost by themselves.
 *
 * @module
 */
import * as zmq from 'zeromq';
import type { Frame } from '../src/codec.js';
import { encodeRequest } from '../src/protocol.js';
import type { RoundTrip, RoundTripTarget } from './measure.js';
import type { BenchCase } from './payloads.js';

const HOST = '127.0.0.1';
/** Frames of up to 1 GiB, like edgeml's default limit. */
const SOCKET_OPTIONS = { linger: 0, maxMessageSize: 1024 * 1024 * 1024 };

/** Raw zeromq.js DEALER/ROUTER echo. */
export class RawZmqTarget implements RoundTripTarget {
  readonly name = 'raw-zmq';
  readonly heavy = false;
  private router: zmq.Router | undefined;
  private dealer: zmq.Dealer | undefined;
  private serving: Promise<void> | undefined;

  async open(): Promise<void> {
    const router = new zmq.Router(SOCKET_OPTIONS);
    await router.bind(`tcp://${HOST}:0`);
    const endpoint = router.lastEndpoint;
    if (!endpoint) throw new Error('raw ROUTER did not report its endpoint');
    this.router = router;
    this.serving = echo(router);
    this.dealer = new zmq.Dealer(SOCKET_OPTIONS);
    this.dealer.connect(endpoint);
  }

  supports(): boolean {
    return true;
  }

  async prepare(c: BenchCase): Promise<RoundTrip> {
    const dealer = this.dealer;
    if (!dealer) throw new Error('raw-zmq target is not open');
    const frames: Frame[] = encodeRequest(1, 'call', 'echo', c.payload);
    let bytes = 0;
    for (const f of frames) bytes += f.byteLength;
    const trip = async (): Promise<number> => {
      await dealer.send(frames);
      const reply = await dealer.receive();
      let n = 0;
      for (const f of reply) n += f.byteLength;
      return n;
    };
    if ((await trip()) !== bytes) throw new Error(`raw-zmq echo of ${c.name} came back with another size`);
    return async () => {
      await trip();
    };
  }

  async close(): Promise<void> {
    this.dealer?.close();
    this.router?.close();
    await this.serving;
    this.dealer = undefined;
    this.router = undefined;
  }
}

/** Echoes every message back to its sender until the socket closes. */
async function echo(router: zmq.Router): Promise<void> {
  for (;;) {
    let msg: Buffer[];
    try {
      msg = await router.receive();
    } catch {
      return;
    }
    try {
      await router.send(msg);
    } catch {
      if (router.closed) return;
    }
  }
}
