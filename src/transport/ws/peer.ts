/**
 * One client connection of the WebSocket server, and its bounded sending: past the send budget (`bufferedAmount`),
 * stream messages wait in a map holding the latest per topic (older ones are dropped and counted), and after a reply
 * the socket is paused (its requests are not read) until the budget drains. Large messages go out in fragments, the
 * application's frames uncopied. Node only (npm `ws`).
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Frame, PeerId } from '../types.js';
import { topicFrame, WsKind, type WsKindCode, wsMessageParts } from './framing.js';

/** Messages smaller than this go out as one buffer (one copy); larger ones in fragments, frames uncopied. */
const COALESCE_BYTES = 64 * 1024;

/** Counters of the WebSocket servers of one transport. */
export interface WsServerCounters {
  /** Connections open now. */
  connections: number;
  /** Upgrades refused: unknown path, too many clients, no edgeml subprotocol, origin or token refused. */
  refused: number;
  /** Messages that were not valid framing (their peer was closed with 1002 or 1009). */
  malformed: number;
  /** Stream messages dropped for a peer over its send budget (a newer one of the topic replaced them). */
  dropped: number;
  /** Times a peer's requests stopped being read until its replies drained. */
  paused: number;
  /** Peers terminated for not answering heartbeats. */
  timedOut: number;
}

/** Answers an upgrade request with an HTTP error and closes its socket. */
export function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  try {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  } catch {
    // Gone already.
  }
  socket.destroy();
}

let nextPeer = 1;

/** The {@link Peer.key} of a peer id. */
export function peerKey(peer: PeerId): string {
  return String(new DataView(peer.buffer, peer.byteOffset, peer.byteLength).getBigUint64(0));
}

/** One connected client. */
export class Peer {
  readonly id: PeerId;
  readonly key: string;
  readonly topics = new Set<string>();
  lastSeen = Date.now();
  lastBuffered = 0;
  private readonly waiting = new Map<string, Frame[]>();
  private paused = false;

  constructor(
    readonly ws: WebSocket,
    private readonly budget: number,
    private readonly counters: WsServerCounters,
  ) {
    const n = nextPeer++;
    this.id = new Uint8Array(8);
    new DataView(this.id.buffer).setBigUint64(0, BigInt(n));
    this.key = String(n);
  }

  private over(): boolean {
    return this.ws.bufferedAmount > this.budget;
  }

  send(kind: WsKindCode, frames: readonly Frame[]): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const parts = wsMessageParts(kind, frames);
    let total = 0;
    for (const p of parts) total += p.byteLength;
    const done = (): void => this.drained();
    if (total < COALESCE_BYTES) {
      const one = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        one.set(p, at);
        at += p.byteLength;
      }
      this.ws.send(one, { binary: true, compress: false }, done);
      return;
    }
    // Fragments: small pieces (prefix, padding, small frames) together, large frames as they are.
    let small: Uint8Array[] = [];
    let smallBytes = 0;
    const out: Uint8Array[] = [];
    const flush = (): void => {
      if (small.length === 0) return;
      const one = new Uint8Array(smallBytes);
      let at = 0;
      for (const p of small) {
        one.set(p, at);
        at += p.byteLength;
      }
      out.push(one);
      small = [];
      smallBytes = 0;
    };
    for (const p of parts) {
      if (p.byteLength >= COALESCE_BYTES) {
        flush();
        out.push(p);
      } else {
        small.push(p);
        smallBytes += p.byteLength;
      }
    }
    flush();
    for (let i = 0; i < out.length; i++) {
      const fin = i === out.length - 1;
      this.ws.send(out[i]!, { binary: true, compress: false, fin }, fin ? done : undefined);
    }
  }

  /** A reply: always sent; past the budget, the peer's requests stop being read until it drains. */
  reply(frames: readonly Frame[]): void {
    this.send(WsKind.message, frames);
    if (!this.paused && this.over()) {
      this.paused = true;
      this.counters.paused++;
      this.ws.pause();
    }
  }

  /** A stream message: past the budget it waits, replacing an older waiting one of its topic. */
  publish(topic: string, frames: readonly Frame[]): void {
    if (this.over() || this.waiting.size > 0) {
      if (this.waiting.has(topic)) this.counters.dropped++;
      this.waiting.delete(topic);
      this.waiting.set(topic, [topicFrame(topic), ...frames]);
      return;
    }
    this.send(WsKind.publish, [topicFrame(topic), ...frames]);
  }

  /** Called as sends complete: resumes reading and sends waiting stream messages once under the budget. */
  private drained(): void {
    if (this.over()) return;
    if (this.paused) {
      this.paused = false;
      this.ws.resume();
    }
    for (const [topic, frames] of this.waiting) {
      if (this.over()) return;
      this.waiting.delete(topic);
      this.send(WsKind.publish, frames);
    }
  }
}
