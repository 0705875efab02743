/**
 * The one deadline and abort helper: a wait that ends with a {@link TimeoutError} at its deadline or an
 * {@link AbortError} when its signal aborts, and always cleans up its timer and listener.
 *
 * @module
 */
import { AbortError, InvalidArgumentError, TimeoutError } from './errors.js';

/** How a wait ends early. */
export interface DeadlineOptions {
  /** Deadline in ms from now; `undefined`: none. */
  timeoutMs?: number | undefined;
  /** Aborts the wait. */
  signal?: AbortSignal | undefined;
  /** What is waited for, in messages: `"call classify"`, `"wait for 10 items"`. */
  what: string;
  /** The timeout error's message, if not the default `"<what> timed out after N ms"`. */
  timeoutMessage?: (() => string) | undefined;
}

/** The settling side of a wait: `resolve` or `reject` once, then cleanup runs. */
export interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * Runs `start` and waits for it to settle, or for the deadline, or for the signal. `start` may return a cleanup
 * function (anything else it returns is ignored), called once however the wait ends.
 * @throws {@link InvalidArgumentError} for a `timeoutMs` that is not positive
 */
export function withDeadline<T>(options: DeadlineOptions, start: (settle: Settle<T>) => unknown): Promise<T> {
  const { timeoutMs, signal, what } = options;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) {
    return Promise.reject(new InvalidArgumentError('timeoutMs', 'must be a positive number'));
  }
  if (signal?.aborted) return Promise.reject(new AbortError(`${what} aborted`, { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let cleanup: (() => void) | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => finish(new AbortError(`${what} aborted`, { cause: signal?.reason }));
    const finish = (error: unknown, value?: T): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup?.();
      if (error !== undefined) reject(error);
      else resolve(value as T);
    };
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        const message = options.timeoutMessage?.() ?? `${what} timed out after ${timeoutMs} ms`;
        finish(new TimeoutError(message, timeoutMs));
      }, timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const returned = start({
        resolve: (v) => finish(undefined, v),
        reject: (e) => finish(e ?? new Error('rejected')),
      });
      if (typeof returned === 'function') cleanup = returned as () => void;
    } catch (e) {
      finish(e);
    }
    if (settled) cleanup?.();
  });
}

/**
 * `work`, or a rejection with the signal's reason as soon as `signal` aborts: a caller stops waiting for work that
 * may never finish (the work itself goes on; its result is dropped).
 */
export function untilAborted<T>(work: T | Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (!(work instanceof Promise)) return Promise.resolve(work);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
