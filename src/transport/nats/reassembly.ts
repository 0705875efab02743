/**
 * Reassembly of chunked messages (docs/protocol.md, "NATS mapping"): chunks of one message arrive in order from one
 * sender; memory is bounded (a message larger than `maxBytes` is refused at its first chunk, and all partial
 * messages together hold at most `maxBytes`), and a message whose next chunk does not come within `timeoutMs` is
 * dropped.
 *
 * @module
 */
import type { Chunk } from './framing.js';

interface Partial {
  parts: Uint8Array[];
  bytes: number;
  next: number;
  count: number;
  total: number;
  last: number;
}

/** Counters of a {@link Reassembler}. */
export interface ReassemblyStats {
  /** Messages completed. */
  completed: number;
  /** Partial messages dropped: too large, out of order, over the memory bound, or timed out. */
  dropped: number;
}

/** See the module comment. */
export class Reassembler {
  private readonly partial = new Map<string, Partial>();
  private held = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly stats: ReassemblyStats = { completed: 0, dropped: 0 };

  constructor(
    private readonly maxBytes: number,
    private readonly timeoutMs: number,
  ) {}

  /** Bytes held by partial messages. */
  get heldBytes(): number {
    return this.held;
  }

  /** Adds a chunk from `sender`; returns the whole-message body once its last chunk is in. */
  add(sender: string, chunk: Chunk): Uint8Array | undefined {
    const key = `${sender}/${chunk.id}`;
    let p = this.partial.get(key);
    if (chunk.index === 0) {
      if (p) this.drop(key, p);
      if (chunk.total > this.maxBytes) {
        this.stats.dropped++;
        return undefined;
      }
      p = { parts: [], bytes: 0, next: 0, count: chunk.count, total: chunk.total, last: Date.now() };
      this.partial.set(key, p);
      this.arm();
    }
    if (!p) return undefined; // a chunk of a message already dropped, or never started
    if (chunk.index !== p.next || chunk.count !== p.count || chunk.total !== p.total) {
      this.drop(key, p);
      return undefined;
    }
    const bytes = p.bytes + chunk.data.length;
    if (
      bytes > p.total ||
      (chunk.index === p.count - 1 && bytes !== p.total) ||
      this.held + chunk.data.length > this.maxBytes
    ) {
      this.drop(key, p);
      return undefined;
    }
    // The chunk's body is a view on a buffer nats.js hands over; keep it (no copy until the message is whole).
    p.parts.push(chunk.data);
    p.bytes = bytes;
    p.next++;
    p.last = Date.now();
    this.held += chunk.data.length;
    if (p.next < p.count) return undefined;
    this.partial.delete(key);
    this.held -= p.bytes;
    this.stats.completed++;
    return Buffer.concat(p.parts, p.total);
  }

  private drop(key: string, p: Partial): void {
    this.partial.delete(key);
    this.held -= p.bytes;
    this.stats.dropped++;
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), Math.max(10, this.timeoutMs / 4));
    this.timer.unref();
  }

  /** Drops partial messages silent for longer than the timeout. */
  sweep(now = Date.now()): void {
    for (const [key, p] of this.partial) if (now - p.last > this.timeoutMs) this.drop(key, p);
    if (this.partial.size === 0) this.close();
  }

  /** Drops everything and stops the timer. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const [key, p] of this.partial) this.drop(key, p);
  }
}
