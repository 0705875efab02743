#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_BIND_HOST, DEFAULT_CONNECT_TIMEOUT_MS } from '../core/defaults.js';
import { EdgeMLError } from '../core/errors.js';
import { LatencyRecorder } from '../core/latency.js';
import { ActionClient } from '../modes/action/client.js';
import { ActionConfig } from '../modes/action/config.js';
import { ActionServer } from '../modes/action/server.js';
import { Tensor } from '../tensor/tensor.js';
import { writeKeyFiles } from '../transport/curve-keys.js';
/**
 * The `edgeml` command. Subcommands live in one table ({@link COMMANDS}); each parses its own arguments with
 * `node:util` `parseArgs` and resolves with an exit code. The process ends by itself once a command has closed its
 * sockets: nothing here calls `process.exit`.
 *
 * `edgeml example --server` / `edgeml example --client` is the seed's action-mode example: the server streams
 * synthetic camera frames (uint8 480x640x3) and a state vector, serves `obs`/`act`; the client fetches observations
 * at a fixed rate, sends actions, counts streamed frames and prints latency and frame rate, then ends with a summary.
 *
 * @module
 */
import { interfaces, ping, TARGET_USAGE, UsageArgumentError } from './inspect.js';

/** Request port of the example when `--port` is not given; the stream uses the next port unless told otherwise. */
const EXAMPLE_PORT = 5560;
/** Frames per second the example server streams. */
const EXAMPLE_FPS = 30;
/** Observation/action round trips per second of the example client. */
const EXAMPLE_RATE_HZ = 10;
/** How long the example client runs, in seconds. */
const EXAMPLE_SECONDS = 5;
/** Camera frame shape of the example (height, width, channels). */
const FRAME_SHAPE = [480, 640, 3] as const;
const FRAME_BYTES = FRAME_SHAPE[0] * FRAME_SHAPE[1] * FRAME_SHAPE[2];

/** One subcommand: a line for the overview, its own usage text, and the code that runs it. */
interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

// A closed stdout or stderr (`edgeml example --server | head`, a terminal gone) must not kill a serving process:
// write errors (EPIPE) are dropped, and output stops.
let stdoutOpen = true;
let stderrOpen = true;
process.stdout.on('error', () => {
  stdoutOpen = false;
});
process.stderr.on('error', () => {
  stderrOpen = false;
});

const out = (line: string): void => {
  if (!stdoutOpen) return;
  process.stdout.write(`${line}\n`);
};
const err = (line: string): void => {
  if (!stderrOpen) return;
  process.stderr.write(`${line}\n`);
};

function intArg(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer in ${min}..${max}`);
  return n;
}

function numArg(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number`);
  return n;
}

/** Bad command-line arguments: printed with the command's usage, exit code 2. */
class UsageError extends Error {}

function helpOr(usage: string, result: number | 'help'): number {
  if (result !== 'help') return result;
  out(usage);
  return 0;
}

function exampleConfig(port: number, broadcastPort: number): ActionConfig {
  return new ActionConfig({
    portNumber: port,
    broadcastPort,
    actionKeys: ['move'],
    observationKeys: ['camera', 'state'],
    version: 'edgeml-example-1',
  });
}

/** A synthetic camera frame: a new buffer per frame (published data must not change afterwards). */
function syntheticFrame(n: number): Tensor<'uint8'> {
  const data = new Uint8Array(FRAME_BYTES);
  data.fill(n & 0xff);
  // A bright bar that moves down the image, so consecutive frames differ visibly.
  const row = (n * 8) % FRAME_SHAPE[0];
  data.fill(0xff, row * FRAME_SHAPE[1] * 3, (row + 8) * FRAME_SHAPE[1] * 3);
  return new Tensor('uint8', data, FRAME_SHAPE);
}

/** Resolves with the name of the first SIGINT or SIGTERM; `cancel()` removes the handlers. */
function onStopSignal(): { signal: Promise<string>; cancel: () => void } {
  let cancel!: () => void;
  const signal = new Promise<string>((resolve) => {
    const done = (name: string): void => {
      cancel();
      resolve(name);
    };
    cancel = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  return { signal, cancel };
}

/**
 * `edgeml example --browser`: runs examples/browser/server.ts (under tsx) from the source checkout this command
 * belongs to; the example needs the dev dependencies (esbuild, face-api, TensorFlow.js), so it is not in the package.
 */
function browserExample(values: Record<string, string | boolean | undefined>): Promise<number> {
  const script = fileURLToPath(new URL('../../examples/browser/server.ts', import.meta.url));
  if (!existsSync(script)) {
    err('edgeml example --browser runs examples/browser/server.ts of a source checkout of edgeml (with its dev');
    err('dependencies installed): clone the repository, npm install, then npx edgeml example --browser');
    return Promise.resolve(1);
  }
  const args = ['--import', 'tsx', script];
  if (typeof values.port === 'string') args.push('--port', values.port);
  if (typeof values.host === 'string') args.push('--host', values.host);
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.once('SIGINT', forward);
  process.once('SIGTERM', forward);
  return new Promise((resolvePromise) => {
    child.once('exit', (code) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolvePromise(code ?? 1);
    });
  });
}

async function exampleServer(values: Record<string, string | boolean | undefined>): Promise<number> {
  const host = typeof values.host === 'string' ? values.host : DEFAULT_BIND_HOST;
  const port = intArg('port', values.port as string | undefined, EXAMPLE_PORT, 0, 65535);
  const broadcast = intArg(
    'broadcast-port',
    values['broadcast-port'] as string | undefined,
    port && port + 1,
    0,
    65535,
  );
  const fps = numArg('fps', values.fps as string | undefined, EXAMPLE_FPS);
  let frameNo = 0;
  let camera = syntheticFrame(0);
  const state = new Float32Array(7);
  let actions = 0;
  const server = new ActionServer<Record<string, unknown>>(
    exampleConfig(port, broadcast),
    (keys: string[]) => Object.fromEntries(keys.map((k) => [k, k === 'camera' ? camera : state.slice()])),
    (_key: string, payload: unknown) => {
      actions++;
      const p = payload as { dx?: unknown; dy?: unknown } | null | undefined;
      if (typeof p?.dx === 'number') state[0] = (state[0] ?? 0) + p.dx;
      if (typeof p?.dy === 'number') state[1] = (state[1] ?? 0) + p.dy;
      return { status: 'received', actions };
    },
    { host },
  );
  // Handlers first: a signal that arrives once the address is printed must find them installed.
  const stop = onStopSignal();
  try {
    await server.start();
  } catch (e) {
    stop.cancel();
    throw e;
  }
  out(`edgeml example server: requests on ${host}:${server.port}, stream on ${host}:${server.broadcastPort}`);
  out(`streaming ${FRAME_SHAPE.join('x')} uint8 frames at ${fps} fps; stop with Ctrl-C`);
  const timer = setInterval(() => {
    frameNo++;
    camera = syntheticFrame(frameNo);
    server.publishObs({ camera, state: state.slice(), frame: frameNo, sentAt: Date.now() });
  }, 1000 / fps);
  const signal = await stop.signal;
  clearInterval(timer);
  const stats = server.stats();
  await server.stop();
  out(`${signal}: stopped after ${frameNo} frames, ${stats.requests} requests, ${actions} actions`);
  return 0;
}

const ms = (v: number | undefined): string => `${(v ?? 0).toFixed(2)} ms`;

async function exampleClient(values: Record<string, string | boolean | undefined>): Promise<number> {
  const host = typeof values.ip === 'string' ? values.ip : typeof values.host === 'string' ? values.host : '127.0.0.1';
  const port = intArg('port', values.port as string | undefined, EXAMPLE_PORT, 1, 65535);
  const broadcast = intArg('broadcast-port', values['broadcast-port'] as string | undefined, port + 1, 1, 65535);
  const seconds = numArg('seconds', values.seconds as string | undefined, EXAMPLE_SECONDS);
  const rate = numArg('rate', values.rate as string | undefined, EXAMPLE_RATE_HZ);
  const timeoutMs = numArg('timeout', values.timeout as string | undefined, DEFAULT_CONNECT_TIMEOUT_MS);
  let client: ActionClient;
  try {
    client = await ActionClient.connect(host, exampleConfig(port, broadcast), { connectTimeoutMs: timeoutMs });
  } catch (e) {
    err(`cannot start the example client against ${host}:${port}: ${(e as Error).message}`);
    return 1;
  }
  out(`edgeml example client: connected to ${host}:${port} (stream ${broadcast}), running ${seconds} s at ${rate} Hz`);
  const latency = new LatencyRecorder();
  let frames = 0;
  let framesAtReport = 0;
  client.onObs((o) => {
    frames++;
    if (typeof o.sentAt === 'number') latency.record('stream', Date.now() - o.sentAt);
  });
  let steps = 0;
  let errors = 0;
  const start = performance.now();
  let next = start;
  let lastReport = start;
  while (performance.now() - start < seconds * 1000) {
    try {
      const t0 = performance.now();
      const obs = (await client.obs()) as { camera: Tensor; state: Float32Array };
      const t1 = performance.now();
      if (obs.camera.data.byteLength !== FRAME_BYTES) throw new EdgeMLError('unexpected camera frame size');
      await client.act('move', { dx: 0.01, dy: -0.01 });
      latency.record('obs', t1 - t0);
      latency.record('act', performance.now() - t1);
      steps++;
    } catch (e) {
      errors++;
      err(`step failed: ${(e as Error).message}`);
    }
    const now = performance.now();
    if (now - lastReport >= 1000) {
      const l = latency.snapshot();
      const fps = ((frames - framesAtReport) * 1000) / (now - lastReport);
      out(
        `${((now - start) / 1000).toFixed(1)} s: obs p50 ${ms(l.obs?.p50)}, act p50 ${ms(l.act?.p50)}, ` +
          `stream ${fps.toFixed(1)} fps (age p50 ${ms(l.stream?.p50)})`,
      );
      framesAtReport = frames;
      lastReport = now;
    }
    next += 1000 / rate;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const elapsed = (performance.now() - start) / 1000;
  const l = latency.snapshot();
  const dropped = client.streamStats().dropped;
  await client.close();
  out(`summary: ${steps} steps, ${errors} errors in ${elapsed.toFixed(1)} s`);
  out(`  obs latency p50 ${ms(l.obs?.p50)} p90 ${ms(l.obs?.p90)} p99 ${ms(l.obs?.p99)}`);
  out(`  act latency p50 ${ms(l.act?.p50)} p90 ${ms(l.act?.p90)} p99 ${ms(l.act?.p99)}`);
  out(`  stream: ${frames} frames, ${(frames / elapsed).toFixed(1)} fps, ${dropped} dropped`);
  return steps > 0 && errors === 0 ? 0 : 1;
}

/** Writes a new CURVE key pair as `DIR/NAME.key` and `DIR/NAME.key_secret` (docs/security.md). */
async function keygen(values: Record<string, string | boolean | undefined>): Promise<number> {
  const dir = resolve(typeof values.out === 'string' ? values.out : '.');
  const name = typeof values.name === 'string' ? values.name : 'edgeml';
  if (name.length === 0 || /[/\\]/.test(name) || name === '.' || name === '..') {
    throw new UsageError('--name must be a file name without directories');
  }
  const base = join(dir, name);
  let publicKey: string;
  try {
    await mkdir(dir, { recursive: true });
    ({ publicKey } = await writeKeyFiles(base, undefined, { overwrite: values.force === true }));
  } catch (e) {
    err(`edgeml keygen: ${(e as Error).message}${values.force ? '' : ' (--force replaces existing files)'}`);
    return 1;
  }
  out(`public key: ${publicKey}`);
  out(`wrote ${base}.key (public key: give it to clients, or list it in a server's allowedClients)`);
  out(`wrote ${base}.key_secret (key pair, mode 0600: keep it on this machine)`);
  return 0;
}

/** The subcommands. Add one by adding an entry. */
const COMMANDS: Record<string, Command> = {
  keygen: {
    summary: 'write a CURVE key pair: NAME.key (public, to share) and NAME.key_secret (keep secret)',
    usage: [
      'edgeml keygen [--out DIR] [--name NAME] [--force]',
      '',
      '  --out    directory to write to (default: the current directory; created when missing)',
      '  --name   file name without extension (default edgeml)',
      '  --force  replace existing key files (by default they are kept and keygen fails)',
      '',
      "Servers take the .key_secret file as security.keyPair; clients take the server's .key file as",
      'security.serverPublicKey, and a server lists client .key files in security.allowedClients.',
    ].join('\n'),
    async run(args) {
      const { values } = parseArgs({
        args,
        strict: true,
        options: {
          out: { type: 'string' },
          name: { type: 'string' },
          force: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      });
      if (values.help) {
        out(this.usage);
        return 0;
      }
      return keygen(values);
    },
  },
  ping: {
    summary: 'send ping requests to any edgeml server and print the round-trip times',
    usage: [
      'edgeml ping (URL | --port N [--host H]) [--count N] [--timeout MS] [--server-key FILE] [--key FILE]',
      '',
      '  --count       pings to send (default 3)',
      ...TARGET_USAGE,
    ].join('\n'),
    async run(args) {
      return helpOr(this.usage, await ping(args, out, err));
    },
  },
  interfaces: {
    summary: "list an inference server's interfaces, or a NATS service's workers with their counts",
    usage: [
      'edgeml interfaces (URL | --port N [--host H]) [--timeout MS] [--server-key FILE] [--key FILE]',
      'edgeml interfaces nats://HOST:4222/SERVICE [--prefix P] [--wait MS] [--json]',
      '',
      ...TARGET_USAGE,
      "  --wait        nats:// only: how long to collect the workers' answers in ms (default 1000)",
      '  --json        nats:// only: print the workers as JSON',
    ].join('\n'),
    async run(args) {
      return helpOr(this.usage, await interfaces(args, out, err));
    },
  },
  example: {
    summary: "run the seed's action-mode example (a streaming server, or a client against it), or the browser one",
    usage: [
      'edgeml example --server [--host H] [--port N] [--broadcast-port N] [--fps F]',
      'edgeml example --browser [--host H] [--port N]   camera page with a face detector (in a source checkout)',
      'edgeml example --client [--ip H] [--port N] [--broadcast-port N] [--seconds S] [--rate R] [--timeout MS]',
      '',
      `  --port            request port (default ${EXAMPLE_PORT}; 0 with --server picks a free one)`,
      '  --broadcast-port  stream port (default: port + 1)',
      `  --host            address the server binds (default ${DEFAULT_BIND_HOST}; 0.0.0.0 serves other machines)`,
      '  --ip              server address the client connects to (default 127.0.0.1)',
      `  --fps             frames the server streams per second (default ${EXAMPLE_FPS})`,
      `  --seconds         how long the client runs (default ${EXAMPLE_SECONDS})`,
      `  --rate            observation/action round trips per second (default ${EXAMPLE_RATE_HZ})`,
      `  --timeout         how long the client waits for the server, in ms (default ${DEFAULT_CONNECT_TIMEOUT_MS})`,
    ].join('\n'),
    async run(args) {
      const { values } = parseArgs({
        args,
        strict: true,
        options: {
          server: { type: 'boolean' },
          client: { type: 'boolean' },
          browser: { type: 'boolean' },
          host: { type: 'string' },
          ip: { type: 'string' },
          port: { type: 'string' },
          'broadcast-port': { type: 'string' },
          fps: { type: 'string' },
          seconds: { type: 'string' },
          rate: { type: 'string' },
          timeout: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      });
      if (values.help) {
        out(this.usage);
        return 0;
      }
      if ([values.server, values.client, values.browser].filter(Boolean).length !== 1) {
        throw new UsageError('give exactly one of --server, --client and --browser');
      }
      if (values.browser) return browserExample(values);
      return values.server ? exampleServer(values) : exampleClient(values);
    },
  },
};

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'usage: edgeml <command> [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'edgeml <command> --help shows the options of a command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? err : out)(overview());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`edgeml: unknown command ${JSON.stringify(name)}\n\n${overview()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    // parseArgs throws TypeErrors with a `code` for unknown or malformed options.
    const code = (e as { code?: unknown }).code;
    if (
      e instanceof UsageError ||
      e instanceof UsageArgumentError ||
      (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    ) {
      err(`edgeml ${name}: ${(e as Error).message}\n\n${command.usage}`);
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    err(`edgeml: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);
