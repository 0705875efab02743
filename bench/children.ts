/**
 * Child processes of the benchmark: servers, subscribers and streaming clients that run in a process of their own,
 * so that their CPU time, heap, garbage collections and resident memory are their own. A child is a sibling module of
 * this file, started with Node's IPC channel; it answers with messages and stops when asked (or when the parent goes).
 *
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How long a child may take to answer before the benchmark gives up on it. */
const CHILD_TIMEOUT_MS = 60_000;

/** Milliseconds on the system's monotonic clock: the same clock in every process, so times compare across them. */
export function clockMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * Starts the sibling module `name` (`server-child`, ...) with `args`. Works from the compiled benchmark (`.js`, the
 * default) and from the sources run with tsx (`.ts`, which the child then loads through tsx too).
 */
export function forkChild(name: string, args: readonly string[] = []): ChildProcess {
  const self = import.meta.url;
  const ts = self.endsWith('.ts');
  const file = fileURLToPath(new URL(`./${name}${ts ? '.ts' : '.js'}`, self));
  const child = fork(file, [...args], {
    execArgv: ts ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  // A child that dies unexpectedly must not leave the parent waiting forever: see nextMessage's timeout.
  return child;
}

/** Resolves with the child's next message that `accept` takes (as the type it checks for); rejects if it exits. */
export function nextMessage<T>(
  child: ChildProcess,
  accept: (m: unknown) => m is T,
  timeoutMs = CHILD_TIMEOUT_MS,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`child ${child.pid} did not answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onMessage = (m: unknown): void => {
      if (accept(m)) finish(undefined, m);
    };
    const onExit = (code: number | null): void => finish(new Error(`child ${child.pid} exited (code ${code})`));
    function finish(error: Error | undefined, m?: T): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(m as T);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Asks the child to stop (`{ stop: true }`) and waits until it has exited; kills it if it does not within 10 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send({ stop: true });
  else child.kill();
  const timer = setTimeout(() => child.kill(), 10_000);
  await exited;
  clearTimeout(timer);
}

/** In a child: calls `onStop` once, when the parent asks it to stop or goes away. */
export function onParentStop(onStop: () => Promise<void> | void): void {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void Promise.resolve(onStop()).finally(() => process.disconnect?.());
  };
  process.on('message', (m: unknown) => {
    if (typeof m === 'object' && m !== null && 'stop' in m) stop();
  });
  process.on('disconnect', stop);
}

/** In a child: sends `message` to the parent; resolves once it is handed to the channel. */
export function toParent(message: unknown): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** A type guard for messages that carry `key`. */
export function has<K extends string>(key: K): (m: unknown) => m is Record<K, unknown> {
  return (m: unknown): m is Record<K, unknown> => typeof m === 'object' && m !== null && key in m;
}
