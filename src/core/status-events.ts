/**
 * Connection status changes as an async iterator, for `for await (const status of client.statusEvents())` loops.
 *
 * @module
 */
import type { ConnectionStatus } from './types.js';

/** Most status changes buffered for one iterator that is not being read; older ones are dropped. */
const BUFFER = 32;

/** Fans status changes out to any number of async iterators. */
export class StatusEvents {
  private readonly readers = new Set<{ queue: ConnectionStatus[]; wake: (() => void) | undefined }>();
  private ended = false;

  /** Delivers `status` to every open iterator; `'closed'` ends them all after it is delivered. */
  emit(status: ConnectionStatus): void {
    if (this.ended) return;
    for (const r of this.readers) {
      r.queue.push(status);
      if (r.queue.length > BUFFER) r.queue.shift();
      r.wake?.();
    }
    if (status === 'closed') this.ended = true;
  }

  /**
   * An async iterator of status changes from now on. It ends after `'closed'`, when `signal` aborts, or when the
   * loop breaks.
   */
  async *iterate(signal?: AbortSignal): AsyncGenerator<ConnectionStatus, void, undefined> {
    if (this.ended) return;
    const reader: { queue: ConnectionStatus[]; wake: (() => void) | undefined } = { queue: [], wake: undefined };
    this.readers.add(reader);
    const onAbort = (): void => reader.wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      while (!signal?.aborted) {
        const next = reader.queue.shift();
        if (next !== undefined) {
          yield next;
          if (next === 'closed') return;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          reader.wake = resolve;
        });
        reader.wake = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.readers.delete(reader);
    }
  }
}
