/**
 * Outgoing queues of the ZeroMQ transport. zeromq.js allows one pending `send` per socket, so each socket owns one
 * {@link SendQueue}; what the queue does when the socket refuses a message (EAGAIN) is a {@link BlockedPolicy}:
 * {@link Backoff} for client sockets, {@link PublishFlow} for publishing sockets.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import type * as zmq from 'zeromq';
import type { Frame } from '../../wire/codec.js';

/** How long a publish waits for a subscriber whose queue is full before that subscriber loses the message. */
const PUBLISH_GRACE_MS = 100;
/** After a subscriber made a publish wait the full grace, how long publishes drop for full subscribers at once. */
const PUBLISH_LOSSY_MS = 1_000;
/** For this long after a message was dropped for a full subscriber, the newest message of each topic is sent again
 * when the topic goes quiet (see {@link PublishFlow}). */
const CATCH_UP_WINDOW_MS = 10_000;
/** Copies of a topic's newest message sent after it went quiet: after 1 s, 2 s more, 4 s more. */
const CATCH_UP_TRIES = 3;
const CATCH_UP_FIRST_MS = 1_000;

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
  /** Called after `frames` were sent. */
  sent(frames: Frame[]): void;
  /** Called when a send was refused; resolves when the queue should try again. */
  blocked(): Promise<void>;
  /** Called once by the queue with a function that queues a message again. */
  attach?(requeue: (frames: Frame[]) => void): void;
  /**
   * When set, a refused message is dropped and handed to this function instead of being retried (a ROUTER with
   * `mandatory`: a reply to a peer whose queue is full must not hold up the replies to everyone else).
   */
  dropped?(frames: Frame[]): void;
}

/**
 * For a ROUTER socket with `mandatory` and send timeout 0: a reply the socket refuses (its peer's queue is full: the
 * peer does not read) is dropped and reported, never retried, so one slow reader never delays the others.
 */
export class DropWhenFull implements BlockedPolicy {
  constructor(private readonly onDrop: (frames: Frame[]) => void) {}
  beforeSend(): void {}
  sent(): void {}
  async blocked(): Promise<void> {}
  dropped(frames: Frame[]): void {
    this.onDrop(frames);
  }
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
  ) {
    policy?.attach?.((frames) => this.push(frames));
  }

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
          // Closed while the send was pending: the queue was emptied under us.
          if (this.closed) return;
          this.policy?.sent(item.frames);
          this.shift();
        } catch (e) {
          if (this.closed) return;
          // EAGAIN: no peer could take it in time; loop to re-check staleness and try again.
          if ((e as { code?: string }).code === 'EAGAIN') {
            if (this.policy?.dropped) {
              this.shift();
              this.dropped++;
              this.policy.dropped(item.frames);
              continue;
            }
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
 *
 * A subscriber that lost messages in a lossy period (the slow one, or any other that was full for a moment) may have
 * lost the newest message of a topic, and a publisher that goes quiet then would leave it on an older value. Nor does
 * a send in ZMQ_XPUB_NODROP mode reach such a subscriber at once: libzmq skips a subscriber a lossy send found full
 * until it has emptied half its queue. So within {@link CATCH_UP_WINDOW_MS} of a lossy send, the newest message of a
 * topic is sent again when the topic has been quiet for 1 s, then 2 s and 4 s later ({@link CATCH_UP_TRIES} copies;
 * a newer message on the topic starts over). The messages carry topic sequence numbers, so subscribers that had the
 * message drop the copies. Frame 0 of each message is its topic.
 */
export class PublishFlow implements BlockedPolicy {
  private noDrop = true;
  private blockedSince = 0;
  private wait = 1;
  private lossyUntil = 0;
  /** When a send last went out in lossy mode. */
  private lossyAt = Number.NEGATIVE_INFINITY;
  /** Per topic, within the catch-up window: the newest message, when to send it again, copies sent so far. */
  private readonly tails = new Map<string, { frames: Frame[]; due: number; tries: number }>();
  /** Copies queued again, with their number. */
  private readonly copies = new WeakMap<Frame[], number>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private requeue: ((frames: Frame[]) => void) | undefined;

  /** @param socket created with `noDrop: true` */
  constructor(private readonly socket: zmq.XPublisher) {}

  attach(requeue: (frames: Frame[]) => void): void {
    this.requeue = requeue;
  }

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

  sent(frames: Frame[]): void {
    this.unblocked();
    const now = Date.now();
    if (!this.noDrop) this.lossyAt = now;
    const topic = frames[0];
    if (topic === undefined) return;
    const key = Buffer.from(topic.buffer, topic.byteOffset, topic.byteLength).toString('latin1');
    const tries = this.copies.get(frames) ?? 0;
    if (now - this.lossyAt >= CATCH_UP_WINDOW_MS || tries >= CATCH_UP_TRIES) {
      this.tails.delete(key);
      return;
    }
    const due = now + CATCH_UP_FIRST_MS * 2 ** tries;
    this.tails.set(key, { frames, due, tries });
    this.arm(due);
  }

  private arm(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.catchUp(), Math.max(0, at - Date.now())).unref();
  }

  /** Queues again the newest message of each topic that has been quiet long enough. */
  private catchUp(): void {
    this.timer = undefined;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [key, tail] of this.tails) {
      if (tail.due > now) {
        next = Math.min(next, tail.due);
        continue;
      }
      this.tails.delete(key);
      this.copies.set(tail.frames, tail.tries + 1);
      this.requeue?.(tail.frames);
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }

  private unblocked(): void {
    this.blockedSince = 0;
    this.wait = 1;
  }

  async blocked(): Promise<void> {
    const now = Date.now();
    if (this.blockedSince === 0) this.blockedSince = now;
    if (now - this.blockedSince >= PUBLISH_GRACE_MS) {
      this.lossyUntil = now + PUBLISH_LOSSY_MS;
      this.unblocked();
      return;
    }
    await delay(this.wait);
    this.wait = Math.min(this.wait * 2, 16);
  }
}
