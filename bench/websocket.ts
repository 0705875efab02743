/**
 * Case set "websocket": edgeml's round trip over `ws://` (an {@link InferenceClient} calling an echo interface) against
 * the floor of the same bytes over the same library: a raw npm `ws` client sending the exact WebSocket message edgeml
 * sends for the call (pre-encoded once) to a raw `ws` server that echoes it. The servers run with the other
 * request/reply servers (servers.ts: a child process unless `--in-process`), the clients here, interleaved, so the
 * ratio is edgeml's own cost: encoding and decoding, the framing, the rpc layer.
 *
 * @module
 */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { InferenceClient } from '../src/modes/inference/client.js';
import { InferenceServer } from '../src/modes/inference/server.js';
import { encodeWsMessage, WsKind } from '../src/transport/ws/framing.js';
import { encodeRequest } from '../src/wire/envelopes.js';
import { type Budget, interleave, pairedRatio, type ResultRow, type RoundTrip, summarise } from './measure.js';
import { type CaseName, dataBytes, makeCase } from './payloads.js';
import { HOST } from './target-edgeml.js';

/** Payload cases of the set. */
export const WEBSOCKET_CASES: readonly CaseName[] = ['small', 'img224', 'cams4', '10mb'];

/** Options of the set. */
export interface WebSocketOptions {
  budget: Budget;
  /** Ports of the edgeml `ws://` echo server (path {@link WS_PATH}) and of the raw `ws` echo. */
  ports: { edgemlWs: number; rawWs: number };
  progress?: (line: string) => void;
}

/** The path of the edgeml server's `ws://` endpoint. */
export const WS_PATH = '/edgeml';

const MAX = 1024 * 1024 * 1024;

/** Starts a raw `ws` server that echoes every binary message: the floor. */
export async function startRawWsEcho(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new WebSocketServer({ host: HOST, port: 0, maxPayload: MAX, perMessageDeflate: false });
  server.on('connection', (ws) => ws.on('message', (data) => ws.send(data as Buffer, { binary: true })));
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const c of server.clients) c.terminate();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Starts edgeml's `ws://` echo server (interface `echo`), as the browser set's pages and this set's client call it. */
export async function startEdgemlWsServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new InferenceServer({ listen: `ws://${HOST}:0${WS_PATH}`, limits: { maxMessageBytes: MAX } });
  server.registerInterface('echo', (p) => p);
  await server.start();
  return { port: server.port, close: () => server.stop() };
}

/** Runs the set: one row per target and case, the edgeml rows with their paired ratio to the raw floor. */
export async function runWebSocket(options: WebSocketOptions): Promise<ResultRow[]> {
  const client = new InferenceClient(`ws://${HOST}:${options.ports.edgemlWs}${WS_PATH}`, {
    timeoutMs: 60_000,
    limits: { maxMessageBytes: MAX },
  });
  const socket = new WebSocket(`ws://${HOST}:${options.ports.rawWs}`, { maxPayload: MAX, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let waiting: (() => void) | undefined;
  socket.on('message', () => {
    const w = waiting;
    waiting = undefined;
    w?.();
  });
  const rows: ResultRow[] = [];
  try {
    for (const name of WEBSOCKET_CASES) {
      const c = makeCase(name);
      const reply = await client.call('echo', c.payload);
      if (dataBytes(reply) !== dataBytes(c.payload)) throw new Error(`edgeml ws echo of ${name} came back wrong`);
      const message = encodeWsMessage(WsKind.message, encodeRequest(1, 'call', 'echo', c.payload));
      const trips = new Map<string, RoundTrip>([
        [
          'edgeml-ws',
          async () => {
            await client.call('echo', c.payload);
          },
        ],
        [
          'raw-ws',
          () =>
            new Promise<void>((resolve) => {
              waiting = resolve;
              socket.send(message, { binary: true });
            }),
        ],
      ]);
      options.progress?.(`websocket ${name}: edgeml-ws, raw-ws ...`);
      const run = await interleave(trips, options.budget);
      const paired = pairedRatio(run, 'edgeml-ws', 'raw-ws');
      const summaries = [...run.samples].map(([target, s]) => summarise(target, s, message.byteLength));
      const floor = summaries.find((s) => s.target === 'raw-ws')?.p50;
      for (const s of summaries) {
        const row: ResultRow = {
          set: 'websocket',
          case: name,
          description: c.description,
          bytes: message.byteLength,
          ...s,
        };
        if (floor !== undefined) {
          row.ratioToRaw = s.target === 'edgeml-ws' && paired !== undefined ? paired : s.p50 / floor;
          row.extra = { p50Ratio: s.p50 / floor, floor: 'raw ws echo of the same bytes' };
        }
        rows.push(row);
      }
    }
  } finally {
    socket.terminate();
    await client.close();
  }
  return rows;
}
