/**
 * Discovery over NATS against a real nats-server: servers answer the NATS service API (`$SRV.PING`, `INFO`,
 * `STATS`); `discoverNatsService` and `edgeml interfaces nats://…` list a service's workers with their endpoints and
 * counts; deployments under other prefixes are not listed; a user without permission on `$SRV.>` still serves; a
 * flood of discovery requests is answered at a bounded rate while calls go on.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceClient, InferenceServer } from '../src/index.js';
import { discoverNatsService } from '../src/nats.js';
import { waitFor } from './helpers.js';
import {
  exitedWorker,
  NATS_SKIP_REASON,
  type NatsServerProcess,
  type NatsWorker,
  startNatsServer,
  startNatsWorker,
  stopWorkers,
} from './nats-server.js';
import { runCli } from './support/cli-run.js';

/** Runs the CLI to its end; resolves with its exit code and output. */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = runCli(...args);
  const { code } = await run.exit;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

describe.skipIf(NATS_SKIP_REASON !== undefined)(`NATS discovery (${NATS_SKIP_REASON ?? 'nats-server found'})`, () => {
  let nats: NatsServerProcess;
  const cleanups: (() => unknown)[] = [];
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
    await nats?.stop();
  });

  it('lists the workers of a service with their endpoints and counts; a killed one drops out', async () => {
    const url = `${nats.url}/detector`;
    const workers: NatsWorker[] = [startNatsWorker(url, 'A'), startNatsWorker(url, 'B')];
    cleanups.push(() => stopWorkers(workers));
    await waitFor(() => workers.every((w) => w.ready), 'both workers to serve', 20_000);
    const client = new InferenceClient(url);
    cleanups.push(() => client.close());
    const served = new Set<string>();
    for (let n = 0; n < 40 && served.size < 2; n++) {
      served.add(((await client.call('work', { n, ms: 0 })) as { worker: string }).worker);
    }
    expect(served.size).toBe(2);
    const workCalls = workers.reduce((a, w) => a + w.did.length, 0);
    await client.call('echo', 1);

    const found = await discoverNatsService(url, { waitMs: 500 });
    expect(found).toHaveLength(2);
    for (const w of found) {
      expect(w.name).toBe('edgeml_detector');
      expect(w.kind).toBe('inference');
      expect(w.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(Number.isNaN(Date.parse(w.started))).toBe(false);
      expect(w.endpoints.map((e) => e.name).sort()).toEqual(['echo', 'work', 'work-once']);
      for (const e of w.endpoints) expect(e.subject).toBe('edgeml.detector.req');
    }
    const count = (name: string): number =>
      found.reduce((a, w) => a + (w.endpoints.find((e) => e.name === name)?.requests ?? 0), 0);
    expect(count('work')).toBe(workCalls);
    expect(count('echo')).toBe(1);
    // Each worker's own count matches what that worker says it did.
    expect(found.map((w) => w.endpoints.find((e) => e.name === 'work')!.requests).sort()).toEqual(
      workers.map((w) => w.did.length).sort(),
    );

    // The CLI lists the same workers.
    const listed = await cli(['interfaces', url, '--json', '--wait', '500']);
    expect(listed.code, listed.stderr).toBe(0);
    const parsed = JSON.parse(listed.stdout) as { id: string }[];
    expect(parsed.map((w) => w.id)).toEqual(found.map((w) => w.id));
    const text = await cli(['interfaces', url, '--wait', '500']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/2 workers/);
    expect(text.stdout).toMatch(/^ {2}work +requests \d+ {2}errors 0/m);

    // A worker killed: no longer listed.
    workers[0]!.child.kill('SIGKILL');
    await exitedWorker(workers[0]!);
    await waitFor(async () => (await discoverNatsService(url, { waitMs: 300 })).length === 1, 'one worker left');
  });

  it('lists only the deployment of the prefix given; none answering is an empty list and exit 1', async () => {
    const url = `${nats.url}/ranker`;
    const server = new InferenceServer({ listen: url, nats: { prefix: 'fleet.a' } });
    server.registerInterface('rank', () => 1);
    await server.start();
    cleanups.push(() => server.stop());
    expect(await discoverNatsService(url, { waitMs: 300 })).toEqual([]);
    const found = await discoverNatsService(url, { waitMs: 300, nats: { prefix: 'fleet.a' } });
    expect(found.map((w) => [w.name, w.endpoints.map((e) => e.name)])).toEqual([['fleet_a_ranker', ['rank']]]);
    const none = await cli(['interfaces', url, '--wait', '300']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no worker of .* answered/);
    const some = await cli(['interfaces', url, '--wait', '300', '--prefix', 'fleet.a']);
    expect(some.code, some.stderr).toBe(0);
    expect(some.stdout).toMatch(/1 worker\n/);
  });

  it('answers a flood of discovery requests at a bounded rate while calls go on', async () => {
    const url = `${nats.url}/flooded`;
    const server = new InferenceServer({ listen: url });
    server.registerInterface('echo', (p) => p);
    await server.start();
    cleanups.push(() => server.stop());
    const client = new InferenceClient(url);
    cleanups.push(() => client.close());
    const nc = await connect({ servers: nats.url.replace('nats://', '') });
    cleanups.push(() => nc.close());
    const inbox = nc.subscribe('flood.replies');
    let answers = 0;
    void (async () => {
      for await (const _ of inbox) answers++;
    })();
    const started = Date.now();
    for (let i = 0; i < 2000; i++)
      nc.publish('$SRV.STATS.edgeml_flooded', new Uint8Array(0), { reply: 'flood.replies' });
    nc.publish('$SRV.STATS.edgeml_flooded', new TextEncoder().encode('{"garbage'), { reply: 'flood.replies' });
    await nc.flush();
    expect(await client.call('echo', 'still here')).toBe('still here');
    await waitFor(() => answers >= 50, 'the first answers');
    await nc.flush();
    const seconds = Math.max(1, Math.ceil((Date.now() - started) / 1000));
    // At most 50 answers per second window, counting the window the flood started in.
    expect(answers).toBeLessThanOrEqual(50 * (seconds + 1));
    expect(server.stats().errors).toBe(0);
  });

  it('a worker whose NATS user may not subscribe to $SRV.> still serves, undiscovered', async () => {
    const conf = join(tmpdir(), `edgeml-nats-perm-${process.pid}.conf`);
    writeFileSync(
      conf,
      `authorization {
  users = [
    { user: worker, password: w, permissions: { publish: ["edgeml.>", "_INBOX.>"], subscribe: ["edgeml.>", "_INBOX.>"] } }
    { user: client, password: c }
  ]
}
`,
    );
    const restricted = await startNatsServer(['-c', conf]);
    cleanups.push(() => restricted.stop());
    const url = `${restricted.url}/guarded`;
    const server = new InferenceServer({ listen: url, nats: { user: 'worker', pass: 'w' } });
    server.registerInterface('echo', (p) => p);
    await server.start();
    cleanups.push(() => server.stop());
    const client = new InferenceClient(url, { nats: { user: 'client', pass: 'c' } });
    cleanups.push(() => client.close());
    expect(await client.call('echo', 1)).toBe(1);
    expect(await discoverNatsService(url, { waitMs: 300, nats: { user: 'client', pass: 'c' } })).toEqual([]);
    // The refusals did not make the worker's connection unauthorized: it goes on serving.
    for (let i = 0; i < 5; i++) expect(await client.call('echo', i)).toBe(i);
  });
});
