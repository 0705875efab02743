/**
 * Starting and checking the hostile-server fixture (test/fixtures/hostile-server.ts) for the hostile-peer suite.
 */
import { onTestFinished } from 'vitest';
import { tcpEndpoint } from '../../src/core/endpoint.js';
import { RpcClient } from '../../src/messaging/rpc-client.js';
import { ZmqTransport } from '../../src/transport/zmq/zmq-transport.js';
import { type Fixture, startFixture } from '../faults/child.js';
import { HOST } from '../helpers.js';
import { Attacker, memoryOf } from './attack.js';

/** Resident memory a server may reach under any attack of this suite, in MB. */
export const RSS_BOUND_MB = 400;

/** A running fixture, its port, a raw attacker and a legitimate client (all closed when the test ends). */
export interface Target {
  fixture: Fixture;
  port: number;
  /** The trainer's weights port (NaN for the other kinds). */
  broadcastPort: number;
  pid: number;
  attacker: Attacker;
  legit: RpcClient;
  alive(): boolean;
  /** The `cb` lines printed so far: which user callbacks ran. */
  callbacks(): string[];
  memory(): { peakMB: number; rssMB: number };
}

export async function startTarget(
  kind: 'inference' | 'trainer' | 'action',
  options: {
    maxMessageBytes?: number;
    tableMaxBytes?: number;
    tableFifo?: boolean;
    handlerTimeoutMs?: number;
    trainMs?: number;
  } = {},
): Promise<Target> {
  const fixture = startFixture('hostile-server.ts', [kind, JSON.stringify(options)]);
  onTestFinished(() => fixture.kill());
  const ready = await fixture.line((l) => l.startsWith('ready '), 'ready');
  const port = Number(ready.split(' ')[1]);
  const broadcastPort = Number(ready.split(' ')[2] ?? Number.NaN);
  const attacker = new Attacker(port);
  const transport = new ZmqTransport();
  const legit = new RpcClient(transport, tcpEndpoint(HOST, port), { timeoutMs: 15_000 });
  onTestFinished(() => {
    attacker.close();
    legit.close();
  });
  const pid = fixture.proc.pid!;
  return {
    fixture,
    port,
    broadcastPort,
    pid,
    attacker,
    legit,
    alive: () => fixture.proc.exitCode === null && fixture.proc.signalCode === null,
    callbacks: () => fixture.lines.filter((l) => l.startsWith('cb ')),
    memory: () => memoryOf(pid),
  };
}
