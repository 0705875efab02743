/**
 * Outgoing queues of the ZeroMQ transport. zeromq.js allows one pending `send` per socket, so each socket owns one
 * {@link SendQueue}; what the queue does when the socket refuses a message (EAGAIN) is a {@link BlockedPolicy}:
 * {@link Backoff} for client sockets, {@link PublishFlow} for publishing sockets.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import type * as zmq from 'zeromq';
import type { Frame } from './codec.js';

/** How long a publish waits for a subscriber whose queue is full before that subscriber loses the message. */
const PUBLISH_GRACE_MS = 100;
/** After a subscriber made a publish wait the full grace, how long publishes drop for full subscribers at once. */
const PUBLISH_LOSSY_MS = 1_000;

interface Queued {
  frames: Frame[];
  isStale: (() => boolean) | undefined;
  bytes: number;
}

/**
 * What a {@link SendQueue} does when the socket refuses a message at once (EAGAIN): wait, then let the queue retry.
 * Without one, the queue retries straight away (right for sockets whose `send` itself waits for a send timeout).
 */
export interface BlockedPolicy {
  /** Called before each send attempt. */
  beforeSend(): void;
  /** Called after a message was sent. */
  sent(): void;
  /** Called when a send was refused; resolves when the queue should try again. */
  blocked(): Promise<void>;
}

/** Retries with exponential backoff, from 1 ms up to a maximum, while a socket with send timeout 0 refuses messages. */
export class Backoff implements BlockedPolicy {
  private wait = 1;
  constructor(private readonly maxMs: number) {}
  beforeSend(): void {}
  sent(): void {
    this.wait = 1;
  }
  async blocked(): Promise<void> {
    await delay(this.wait);
    this.wait = Math.min(this.wait * 2, this.maxMs);
  }
}

/** One queue of outgoing messages per socket, so at most one `send` is pending on it at any time. */
export class SendQueue {
  private readonly items: Queued[] = [];
  private head = 0;
  private running = false;
  private closed = false;
  /** Messages dropped because they were stale or could not be sent. */
  dropped = 0;

  private queuedBytes = 0;

  /**
   * @param maxBytes bytes of messages waiting at most; past it the oldest waiting messages are dropped (counted in
   * {@link dropped}). The message being sent and the newest message are never dropped.
   */
  constructor(
    private readonly socket: zmq.Writable,
    private readonly policy?: BlockedPolicy,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Queues `frames`; `isStale` is asked before each try, and a stale message is dropped. */
  push(frames: Frame[], isStale?: () => boolean): void {
    if (this.closed) return;
    let bytes = 0;
    for (const f of frames) bytes += f.byteLength;
    this.items.push({ frames, isStale, bytes });
    this.queuedBytes += bytes;
    // Keep the head (it may be in the middle of a send) and the newest; drop the oldest messages between them.
    while (this.queuedBytes > this.maxBytes && this.items.length - this.head > 2) {
      const [old] = this.items.splice(this.head + 1, 1);
      this.queuedBytes -= old!.bytes;
      this.dropped++;
    }
    if (!this.running) void this.run();
  }

  /** Messages waiting. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Drops every waiting message; later pushes are ignored. */
  close(): void {
    this.closed = true;
    this.items.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.head < this.items.length) {
        const item = this.items[this.head]!;
        if (item.isStale?.()) {
          this.shift();
          this.dropped++;
          continue;
        }
        try {
          this.policy?.beforeSend();
          await this.socket.send(item.frames);
          this.policy?.sent();
          this.shift();
        } catch (e) {
          // EAGAIN: no peer could take it in time; loop to re-check staleness and try again.
          if ((e as { code?: string }).code === 'EAGAIN') {
            if (this.policy && !this.closed) await this.policy.blocked();
            continue;
          }
          // Socket closed, host unreachable, ...: drop this message, keep the queue going.
          this.shift();
          this.dropped++;
        }
      }
    } finally {
      this.running = false;
    }
  }

  private shift(): void {
    this.queuedBytes -= this.items[this.head]!.bytes;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
  }
}

/**
 * Flow control of a publishing socket. An XPUB socket that drops for a full subscriber drops the newest messages, so a
 * burst of more than the high-water mark loses its last messages even for a subscriber that reads eagerly (its queue
 * inside libzmq fills faster than the I/O thread empties it). So the socket runs with ZMQ_XPUB_NODROP: a full
 * subscriber makes the send fail, and the publish waits (with backoff, never spinning) for up to
 * {@link PUBLISH_GRACE_MS}. A subscriber still full after that is slow, not just behind for a moment: for the next
 * {@link PUBLISH_LOSSY_MS} messages are sent without waiting, and a full subscriber loses them, so one slow subscriber
 * never holds the others back for long.
 */
export class PublishFlow implements BlockedPolicy {
  private noDrop = true;
  private blockedSince = 0;
  private wait = 1;
  private lossyUntil = 0;

  /** @param socket created with `noDrop: true` */
  constructor(private readonly socket: zmq.XPublisher) {}

  beforeSend(): void {
    const noDrop = Date.now() >= this.lossyUntil;
    if (noDrop === this.noDrop) return;
    // libzmq applies ZMQ_XPUB_NODROP at once, but zeromq.js warns through `process.emitWarning` for any option it
    // does not know to be immediate once the socket is bound. The warning is wrong here and a library must not print
    // it, so it is muted for this one synchronous call.
    const emitWarning = process.emitWarning;
    process.emitWarning = () => {};
    try {
      this.socket.noDrop = noDrop;
    } finally {
      process.emitWarning = emitWarning;
    }
    this.noDrop = noDrop;
  }

  sent(): void {
    this.blockedSince = 0;
    this.wait = 1;
  }

  async blocked(): Promise<void> {
    const now = Date.now();
    if (this.blockedSince === 0) this.blockedSince = now;
    if (now - this.blockedSince >= PUBLISH_GRACE_MS) {
      this.lossyUntil = now + PUBLISH_LOSSY_MS;
      this.sent();
      return;
    }
    await delay(this.wait);
    this.wait = Math.min(this.wait * 2, 16);
  }
}
