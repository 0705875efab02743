/**
 * Train callbacks one at a time, taken in turn from each client: a client with many steps waiting does not push a
 * client with one to the back of a long line.
 *
 * @module
 */

interface Job {
  run: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Runs jobs one at a time, round-robin over the keys they were queued under, FIFO within a key. */
export class FairQueue {
  /** Keys in turn order (a `Map` keeps insertion order; a key served goes to the back). */
  private readonly queues = new Map<string, Job[]>();
  private running = false;

  /** Jobs waiting (not running). */
  get waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** Queues `run` under `key`; resolves or rejects with its result once it has run. */
  push<T>(key: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const q = this.queues.get(key);
      const job: Job = { run, resolve: resolve as (v: unknown) => void, reject };
      if (q) q.push(job);
      else this.queues.set(key, [job]);
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (;;) {
        const first = this.queues.entries().next();
        if (first.done) return;
        const [key, q] = first.value;
        const job = q.shift() as Job;
        this.queues.delete(key);
        if (q.length > 0) this.queues.set(key, q); // to the back of the turn order
        try {
          job.resolve(await job.run());
        } catch (e) {
          job.reject(e);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
