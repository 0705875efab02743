/**
 * The sending side of one socket: bodies leave in the order given, a body larger than one NATS message leaves in
 * chunks, and what follows a chunked body waits for it (so a subscriber never sees a newer value before an older
 * one). A small body with nothing queued before it is published at once.
 *
 * @module
 */
import type { NatsLink } from './link.js';

/** See the module comment. */
export class Outbox {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(private readonly link: NatsLink) {}

  /**
   * Sends `body` to `subject` (chunked when needed), with `reply` on the whole message or on every chunk;
   * `onSent` runs once it has been handed to the connection.
   */
  send(subject: string, body: Uint8Array, reply?: string, onSent?: () => void): void {
    if (this.queued === 0 && body.length <= this.link.maxBody) {
      this.link.publish(subject, body, reply);
      onSent?.();
      return;
    }
    this.after(async () => {
      if (body.length <= this.link.maxBody) this.link.publish(subject, body, reply);
      else await this.link.publishChunks(subject, body, this.link.messageId(), 0, reply);
      onSent?.();
    });
  }

  /** Runs `task` once everything queued before it has been sent. */
  after(task: () => Promise<void> | void): void {
    this.queued++;
    this.tail = this.tail
      .then(task)
      .catch(() => undefined)
      .finally(() => {
        this.queued--;
      });
  }
}
