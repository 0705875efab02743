/**
 * CURVE security over real ZeroMQ sockets on ephemeral loopback ports: key files and their validation, request/reply
 * (inference, action) and broadcast (trainer weights) with the right keys, and every way of being refused: a client
 * key not in `allowedClients`, a wrong server key, CURVE on one side only. Refusals must be quick
 * `AuthenticationError`s, never silent hangs, and a refused client must get in once the server is fixed. Also: the
 * `edgeml keygen` command, and a process using CURVE with an allow-list exits on its own (the ZAP handler is
 * released).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tcpEndpoint } from '../src/core/endpoint.js';
import {
  ActionClient,
  ActionServer,
  AuthenticationError,
  type ClientSecurity,
  type ConnectionStatus,
  DataTable,
  EdgeMLError,
  generateKeyPair,
  InferenceClient,
  InferenceServer,
  InvalidArgumentError,
  type KeyPair,
  publicKeyOf,
  readKeyFile,
  type ServerSecurity,
  Tensor,
  TrainerClient,
  TrainerConfig,
  TrainerServer,
  writeKeyFiles,
} from '../src/index.js';
import { Subscriber } from '../src/messaging/broadcast.js';
import { WEIGHTS_TOPIC } from '../src/protocol.js';
import { zapHandler } from '../src/transport/zmq/zap-handler.js';
import { ZmqTransport } from '../src/zmq.js';
import { HOST, waitFor, within } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/secure-inference.ts', import.meta.url));

/** A refusal must arrive well before this call deadline: it is what a silent hang would run into. */
const CALL_DEADLINE_MS = 10_000;
/** How long a refusal may take at most (libzmq retries a dropped handshake after 100 ms). */
const QUICK_MS = 3_000;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const serverKeys = generateKeyPair();
const robotKeys = generateKeyPair();
const strangerKeys = generateKeyPair();

async function inferenceServer(security: ServerSecurity | undefined, port = 0): Promise<InferenceServer> {
  const server = new InferenceServer({ port, host: HOST, ...(security ? { security } : {}) });
  server.registerInterface('double', (p) => {
    const t = p as Tensor<'float32'>;
    return new Tensor(
      'float32',
      t.data.map((x) => x * 2),
      t.shape,
    );
  });
  server.registerInterface('echo', (p) => p);
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

function inferenceClient(port: number, security?: ClientSecurity, onStatus?: (s: ConnectionStatus) => void) {
  const client = new InferenceClient(HOST, port, {
    timeoutMs: CALL_DEADLINE_MS,
    ...(security ? { security } : {}),
    ...(onStatus ? { onStatus } : {}),
  });
  cleanups.push(() => client.close());
  return client;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeml-security-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Expects `promise` to reject with an AuthenticationError quickly; returns it. */
async function refusedQuickly(promise: Promise<unknown>): Promise<AuthenticationError> {
  const error = await within(
    promise.then(
      () => new Error('the call succeeded'),
      (e: unknown) => e,
    ),
    QUICK_MS,
    'the refusal',
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  expect((error as AuthenticationError).code).toBe('EDGEML_AUTH');
  return error as AuthenticationError;
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Runs a TypeScript entry point in a child process; resolves with its exit and output. */
function runTs(file: string, args: string[], cwd = ROOT): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

describe('keys and key files', () => {
  it('writes key files that read back, with the secret file private, and never overwrites by default', async () => {
    const base = join(await tempDir(), 'node');
    const pair = await writeKeyFiles(base);
    expect(publicKeyOf(pair.secretKey)).toBe(pair.publicKey);
    expect(await readKeyFile(`${base}.key`)).toEqual({ publicKey: pair.publicKey });
    expect(await readKeyFile(`${base}.key_secret`)).toEqual(pair);
    expect(statSync(`${base}.key_secret`).mode & 0o777).toBe(0o600);
    await expect(writeKeyFiles(base)).rejects.toThrow(/exists/);
    expect(await readKeyFile(`${base}.key_secret`)).toEqual(pair);
    const replaced = await writeKeyFiles(base, undefined, { overwrite: true });
    expect(await readKeyFile(`${base}.key_secret`)).toEqual(replaced);
  });

  it('refuses bad keys at construction, naming the field', async () => {
    const dir = await tempDir();
    const pub = join(dir, 'only.key');
    await writeKeyFiles(join(dir, 'only'));
    const mixed: KeyPair = { publicKey: robotKeys.publicKey, secretKey: serverKeys.secretKey };
    const cases: [() => unknown, string][] = [
      [() => new ZmqTransport({ server: { keyPair: 'not-a-key-file' } }), 'server.keyPair'],
      [() => new ZmqTransport({ server: { keyPair: mixed } }), 'server.keyPair'],
      [() => new ZmqTransport({ server: { keyPair: pub } }), 'server.keyPair'],
      [
        () =>
          new ZmqTransport({
            server: { keyPair: serverKeys, allowedClients: [{ z85: robotKeys.publicKey }, { z85: 'x'.repeat(39) }] },
          }),
        'server.allowedClients[1]',
      ],
      [() => new ZmqTransport({ client: { serverPublicKey: join(dir, 'missing.key') } }), 'client.serverPublicKey'],
      [() => new InferenceServer({ port: 0, security: { keyPair: mixed } }), 'security.keyPair'],
      [() => new InferenceClient(HOST, 1, { security: { serverPublicKey: '' } }), 'security.serverPublicKey'],
      [
        () => new InferenceServer({ port: 0, transport: new ZmqTransport(), security: { keyPair: serverKeys } }),
        'security',
      ],
      [
        () =>
          new ActionServer(
            { portNumber: 0, actionKeys: ['a'], observationKeys: ['o'] },
            () => ({}),
            () => null,
            {
              transport: new ZmqTransport(),
              security: { keyPair: serverKeys },
            },
          ),
        'security',
      ],
    ];
    for (const [make, field] of cases) {
      let error: unknown;
      try {
        make();
      } catch (e) {
        error = e;
      }
      expect(error, field).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).field).toBe(field);
    }
    // A key file given where a key pair is needed says what to give instead.
    expect(() => new ZmqTransport({ server: { keyPair: pub } })).toThrow(/no secret key/);
  });
});

describe('request/reply over CURVE', () => {
  it('serves a client whose key is allowed, with tensors intact', async () => {
    const server = await inferenceServer({ keyPair: serverKeys, allowedClients: [{ z85: robotKeys.publicKey }] });
    const client = inferenceClient(server.port, { serverPublicKey: { z85: serverKeys.publicKey }, keyPair: robotKeys });
    const out = (await client.call('double', new Tensor('float32', new Float32Array([1, 2, 3]), [3]))) as Tensor;
    expect([...(out.data as Float32Array)]).toEqual([2, 4, 6]);
    expect(client.status).toBe('connected');
  });

  it('refuses a client key not in allowedClients at once, for waiting and new calls, and never runs the handler', async () => {
    const server = await inferenceServer({ keyPair: serverKeys, allowedClients: [{ z85: robotKeys.publicKey }] });
    let handled = 0;
    server.registerInterface('count', () => ++handled);
    const statuses: ConnectionStatus[] = [];
    const client = inferenceClient(
      server.port,
      { serverPublicKey: { z85: serverKeys.publicKey }, keyPair: strangerKeys },
      (s) => statuses.push(s),
    );
    const error = await refusedQuickly(client.call('count', null));
    expect(error.message).toContain(strangerKeys.publicKey);
    expect(error.message).toContain('allowedClients');
    expect(client.status).toBe('unauthorized');
    expect(statuses).toContain('unauthorized');
    // Calls made while refused reject at once instead of waiting for their deadline.
    await refusedQuickly(client.call('count', null));
    await refusedQuickly(client.ping());
    expect(handled).toBe(0);
    expect(server.stats().requests).toBe(0);
  });

  it('refuses a client given the wrong server key, saying so', async () => {
    const server = await inferenceServer({ keyPair: serverKeys });
    const client = inferenceClient(server.port, {
      serverPublicKey: { z85: strangerKeys.publicKey },
      keyPair: robotKeys,
    });
    const error = await refusedQuickly(client.call('echo', 1));
    expect(error.message).toMatch(/server public key/);
    expect(error.message).toContain(strangerKeys.publicKey);
  });

  it('refuses a plain client of a CURVE server, and a CURVE client of a plain server', async () => {
    const secure = await inferenceServer({ keyPair: serverKeys });
    const plainClient = inferenceClient(secure.port);
    expect((await refusedQuickly(plainClient.call('echo', 1))).message).toMatch(/requires CURVE/);
    const plain = await inferenceServer(undefined);
    const curveClient = inferenceClient(plain.port, { serverPublicKey: { z85: serverKeys.publicKey } });
    expect((await refusedQuickly(curveClient.call('echo', 1))).message).toMatch(/does not use CURVE/);
    expect(secure.stats().requests + plain.stats().requests).toBe(0);
  });

  it('lets a refused client in, without a new client object, once the server allows its key', async () => {
    const first = await inferenceServer({ keyPair: serverKeys, allowedClients: [{ z85: robotKeys.publicKey }] });
    const port = first.port;
    const client = inferenceClient(port, { serverPublicKey: { z85: serverKeys.publicKey }, keyPair: strangerKeys });
    await refusedQuickly(client.call('echo', 1));
    await first.stop();
    await inferenceServer(
      { keyPair: serverKeys, allowedClients: [{ z85: robotKeys.publicKey }, { z85: strangerKeys.publicKey }] },
      port,
    );
    await waitFor(() => client.status === 'connected', 'the client to retry and get in');
    expect(await client.call('echo', 'in')).toBe('in');
  });

  it('keeps accepting any client on a CURVE server without allow-list while another server restricts clients', async () => {
    const restricted = await inferenceServer({ keyPair: serverKeys, allowedClients: [{ z85: robotKeys.publicKey }] });
    const open = await inferenceServer({ keyPair: serverKeys });
    const anyone = inferenceClient(open.port, { serverPublicKey: { z85: serverKeys.publicKey } });
    expect(await anyone.call('echo', 'open')).toBe('open');
    const stranger = inferenceClient(restricted.port, {
      serverPublicKey: { z85: serverKeys.publicKey },
      keyPair: strangerKeys,
    });
    await refusedQuickly(stranger.call('echo', 1));
  });

  it('runs the action mode handshake over CURVE and refuses an unknown key before any callback runs', async () => {
    let observed = 0;
    const server = new ActionServer<Record<string, unknown>>(
      { portNumber: 0, broadcastPort: 0, actionKeys: ['move'], observationKeys: ['cam'] },
      () => {
        observed++;
        return { cam: 1 };
      },
      () => 'ok',
      { host: HOST, security: { keyPair: serverKeys, allowedClients: [{ z85: robotKeys.publicKey }] } },
    );
    await server.start();
    cleanups.push(() => server.stop());
    const config = server.config;
    const client = await ActionClient.connect(HOST, config, {
      security: { serverPublicKey: { z85: serverKeys.publicKey }, keyPair: robotKeys },
    });
    cleanups.push(() => client.close());
    const seen: unknown[] = [];
    client.registerObsCallback((o) => {
      seen.push(o);
    });
    server.publishObs({ frame: 1 });
    await waitFor(() => seen.length > 0, 'the streamed observation');
    expect(await client.obs()).toEqual({ cam: 1 });
    expect(client.streamStatus).toBe('connected');
    const stranger = ActionClient.connect(HOST, config, {
      connectTimeoutMs: CALL_DEADLINE_MS,
      security: { serverPublicKey: { z85: serverKeys.publicKey }, keyPair: strangerKeys },
    });
    await refusedQuickly(stranger);
    expect(observed).toBe(1);
  });
});

describe('broadcast over CURVE', () => {
  it('delivers weights to an allowed client and nothing to a subscriber whose key is not allowed', async () => {
    const security = { keyPair: serverKeys, allowedClients: [{ z85: robotKeys.publicKey }] };
    const config = new TrainerConfig({
      portNumber: 0,
      broadcastPort: 0,
      dataTable: [new DataTable({ name: 'agent', size: 4 })],
    });
    const server = new TrainerServer(config, undefined, undefined, { host: HOST, security });
    await server.start();
    cleanups.push(() => server.stop());
    const ports = { portNumber: server.port, broadcastPort: server.broadcastPort };
    const clientConfig = new TrainerConfig({ ...config.toJSON(), ...ports });

    const robot = await TrainerClient.connect<{ w: number }>(HOST, clientConfig, {
      security: { serverPublicKey: { z85: serverKeys.publicKey }, keyPair: robotKeys },
    });
    cleanups.push(() => robot.close());
    await robot.trainStep('agent', { x: 1 });

    // A stranger's subscriber on the weights port: refused, and it receives nothing.
    const strangerTransport = new ZmqTransport({
      client: { serverPublicKey: { z85: serverKeys.publicKey }, keyPair: strangerKeys },
    });
    const got: unknown[] = [];
    const sub = new Subscriber(strangerTransport, tcpEndpoint(HOST, server.broadcastPort), [WEIGHTS_TOPIC], (d) => {
      got.push(d);
    });
    cleanups.push(() => sub.close());
    await waitFor(() => sub.status === 'unauthorized', 'the stranger subscriber to be refused', QUICK_MS);
    expect(sub.authFailure).toBeInstanceOf(AuthenticationError);

    for (let w = 1; w <= 3; w++) server.publishWeights({ w });
    const latest = await robot.waitForWeights(3, { timeoutMs: CALL_DEADLINE_MS });
    expect(latest.weights).toEqual({ w: 3 });
    expect(robot.weightsStatus).toBe('connected');
    expect(got).toEqual([]);
    expect(sub.stats().received).toBe(0);

    // The trainer's request side refuses the stranger too, through the mode's own connect.
    await refusedQuickly(
      TrainerClient.connect(HOST, clientConfig, {
        connectTimeoutMs: CALL_DEADLINE_MS,
        security: { serverPublicKey: { z85: serverKeys.publicKey }, keyPair: strangerKeys },
      }),
    );
    expect(server.getData('agent')).toEqual([{ x: 1 }]);
  });
});

describe('key files from edgeml keygen, and process exit', () => {
  it('writes key files with edgeml keygen that servers and clients load by path', async () => {
    const dir = await tempDir();
    const made = await Promise.all([
      runTs(CLI, ['keygen', '--out', dir, '--name', 'server']),
      runTs(CLI, ['keygen', '--out', dir, '--name', 'robot']),
    ]);
    for (const r of made) expect(r.code, r.err).toBe(0);
    const serverPublic = /public key: (\S{40})/.exec(made[0]!.out)?.[1];
    expect(serverPublic).toBe((await readKeyFile(join(dir, 'server.key'))).publicKey);
    expect(made[0]!.out).toContain(join(dir, 'server.key_secret'));
    // Run again: the existing keys are kept and keygen fails.
    const again = await runTs(CLI, ['keygen', '--out', dir, '--name', 'server']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/exists/);
    expect((await readKeyFile(join(dir, 'server.key'))).publicKey).toBe(serverPublic);

    const server = await inferenceServer({
      keyPair: join(dir, 'server.key_secret'),
      allowedClients: [join(dir, 'robot.key')],
    });
    const client = inferenceClient(server.port, {
      serverPublicKey: join(dir, 'server.key'),
      keyPair: join(dir, 'robot.key_secret'),
    });
    expect(await client.call('echo', { hello: 'curve' })).toEqual({ hello: 'curve' });
    const stranger = inferenceClient(server.port, { serverPublicKey: join(dir, 'server.key') });
    await refusedQuickly(stranger.call('echo', 1));
  });

  it('lets a process that used CURVE with an allow-list exit on its own (the runnable example)', async () => {
    const run = await within(runTs(EXAMPLE, []), 20_000, 'the example process to exit by itself');
    expect(run.code, run.err).toBe(0);
    expect(run.out).toMatch(/robot1: \{ sum: 10 \}/);
    expect(run.out).toMatch(/stranger: AuthenticationError/);
    expect(run.out).toMatch(/plain client: AuthenticationError/);
    expect(run.out).toMatch(/answered 1 request/);
  });

  it('releases the ZAP domain of every restricting socket when its server stops, also after a failed start', async () => {
    const before = zapHandler.size;
    const security = { keyPair: serverKeys, allowedClients: [{ z85: robotKeys.publicKey }] };
    const inference = await inferenceServer(security);
    const trainer = new TrainerServer(
      { portNumber: 0, broadcastPort: 0, dataTable: [new DataTable({ name: 't', size: 1 })] },
      undefined,
      undefined,
      { host: HOST, security },
    );
    await trainer.start();
    expect(zapHandler.size).toBe(before + 3);
    // A second server on a port already taken fails to start and leaves nothing registered.
    const clash = new InferenceServer({ port: inference.port, host: HOST, security });
    const clashed = await clash.start().catch((e: unknown) => e);
    expect(clashed).toBeInstanceOf(EdgeMLError);
    expect(clashed).toMatchObject({ name: 'EdgeMLError', code: 'EDGEML_ERROR', cause: { code: 'EADDRINUSE' } });
    expect((clashed as Error).message).toContain(`cannot listen on tcp://${HOST}:${inference.port}`);
    expect(zapHandler.size).toBe(before + 3);
    await trainer.stop();
    await inference.stop();
    expect(zapHandler.size).toBe(before);
  });

  it('reports a malformed key file as an InvalidArgumentError and an unreadable one as a plain EdgeMLError (EDGEML_ERROR)', async () => {
    const dir = await tempDir();
    const bad = join(dir, 'bad.key');
    await writeFile(bad, 'public-key = "short"\n');
    await expect(readKeyFile(bad)).rejects.toBeInstanceOf(InvalidArgumentError);
    const none = join(dir, 'none.key');
    const unreadable = await readKeyFile(none).catch((e: unknown) => e);
    expect(unreadable).toBeInstanceOf(EdgeMLError);
    expect(unreadable).toMatchObject({ name: 'EdgeMLError', code: 'EDGEML_ERROR', cause: { code: 'ENOENT' } });
    expect((unreadable as Error).message).toContain(`cannot read key file ${none}`);
  });
});
