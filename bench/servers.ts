/**
 * The request/reply servers every request/reply case calls: edgeml's (`echo` and `upload` interfaces), the raw
 * zeromq.js echo and upload servers, the JSON-over-WebSocket echo, and for the `websocket` and `browser` sets edgeml's
 * `ws://` echo server and a raw `ws` echo. They run in a child process of their own
 * (server-child.ts), so that the server's work, heap and garbage collections are not the client's, as when server and
 * client are different machines; or, with `--in-process`, in the benchmark's own process.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { startWsServer } from './baseline-ws.js';
import { startRawServers } from './baseline-zmq.js';
import { forkChild, has, nextMessage, stopChild } from './children.js';
import { startEdgemlServer } from './target-edgeml.js';
import { startEdgemlWsServer, startRawWsEcho } from './websocket.js';

/** Ports of the running servers. */
export interface Ports {
  edgeml: number;
  rawEcho: number;
  rawUpload: number;
  ws: number;
  /** edgeml's `ws://` echo (path `/edgeml`), and the raw `ws` binary echo beside it. */
  edgemlWs: number;
  rawWs: number;
}

/** Running servers. */
export interface Servers {
  ports: Ports;
  /** `in-process` or `child process`. */
  where: string;
  close(): Promise<void>;
}

/** Starts every server in this process. */
export async function startLocalServers(): Promise<Servers> {
  const edgeml = await startEdgemlServer();
  const raw = await startRawServers();
  const ws = await startWsServer();
  const edgemlWs = await startEdgemlWsServer();
  const rawWs = await startRawWsEcho();
  return {
    ports: {
      edgeml: edgeml.port,
      rawEcho: raw.echo,
      rawUpload: raw.upload,
      ws: ws.port,
      edgemlWs: edgemlWs.port,
      rawWs: rawWs.port,
    },
    where: 'in-process',
    close: async () => {
      await rawWs.close();
      await edgemlWs.close();
      await ws.close();
      await raw.close();
      await edgeml.close();
    },
  };
}

/** Starts every server in a child process. */
export async function startChildServers(): Promise<Servers> {
  const child: ChildProcess = forkChild('server-child');
  const ready = await nextMessage(child, has('ports'));
  return { ports: ready.ports as Ports, where: 'child process', close: () => stopChild(child) };
}

/** Starts the servers where `split` says. */
export function startServers(split: boolean): Promise<Servers> {
  return split ? startChildServers() : startLocalServers();
}
