/**
 * The alternative a TypeScript developer would otherwise write: JSON over a WebSocket (npm `ws`), tensors and typed
 * arrays as base64 strings inside the JSON, an echo server that parses the message back into tensors and answers the
 * same way. Every call encodes and decodes on both sides, as such code would.
 *
 * @module
 */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { arrayTypeOf, type DType, dtypeOfArray, isDType, Tensor, type TypedArray } from '../src/tensor/tensor.js';
import type { RoundTrip, RoundTripTarget } from './measure.js';
import { type BenchCase, dataBytes } from './payloads.js';
import { HOST } from './target-edgeml.js';

/** JSON form of a tensor or typed array. */
interface JsonArray {
  $dtype: string;
  $shape?: number[];
  $b64: string;
}

function toBase64(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Tensor) return { $dtype: value.dtype, $shape: [...value.shape], $b64: toBase64(value.data) };
  if (ArrayBuffer.isView(value)) {
    return { $dtype: dtypeOfArray(value) ?? 'uint8', $b64: toBase64(value) } satisfies JsonArray;
  }
  return value;
}

function fromBase64(dtype: DType, b64: string): TypedArray {
  const buf = Buffer.from(b64, 'base64');
  const Ctor = arrayTypeOf(dtype);
  let bytes: Uint8Array = buf;
  // Small buffers come from Node's pool and may be misaligned for the element size: copy those.
  if (buf.byteOffset % Ctor.BYTES_PER_ELEMENT !== 0) bytes = new Uint8Array(buf);
  return new Ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / Ctor.BYTES_PER_ELEMENT);
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || !('$b64' in value)) return value;
  const v = value as JsonArray;
  if (!isDType(v.$dtype)) throw new Error(`unknown dtype ${v.$dtype}`);
  const data = fromBase64(v.$dtype, v.$b64);
  return v.$shape ? new Tensor(v.$dtype, data as never, v.$shape) : data;
}

/** Encodes a call as such code would: `{id, payload}` with tensors as base64. */
export function encodeJson(id: number, payload: unknown): string {
  return JSON.stringify({ id, payload }, replacer);
}

/** Decodes what {@link encodeJson} produced. */
export function decodeJson(text: string): { id: number; payload: unknown } {
  return JSON.parse(text, reviver) as { id: number; payload: unknown };
}

/** Starts the JSON-over-WebSocket echo server on loopback. */
export async function startWsServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new WebSocketServer({ host: HOST, port: 0, maxPayload: 1024 * 1024 * 1024 });
  server.on('connection', (ws) => {
    ws.on('message', (data) => {
      const { id, payload } = decodeJson(data.toString());
      ws.send(encodeJson(id, payload));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: async () => {
      for (const c of server.clients) c.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** JSON-over-WebSocket echo client. */
export class WsJsonTarget implements RoundTripTarget {
  readonly name = 'ws-json';
  readonly heavy = true;
  private socket: WebSocket | undefined;
  private readonly pending = new Map<number, (payload: unknown) => void>();
  private nextId = 1;

  constructor(
    private readonly port: number,
    private readonly cases: readonly string[] = ['img224', 'cams4'],
  ) {}

  async open(): Promise<void> {
    const socket = new WebSocket(`ws://${HOST}:${this.port}`, { maxPayload: 1024 * 1024 * 1024 });
    this.socket = socket;
    socket.on('message', (data) => {
      const { id, payload } = decodeJson(data.toString());
      const resolve = this.pending.get(id);
      this.pending.delete(id);
      resolve?.(payload);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
  }

  supports(c: BenchCase): boolean {
    return this.cases.includes(c.name);
  }

  private call(payload: unknown): Promise<unknown> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new Error('ws-json target is not open'));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      socket.send(encodeJson(id, payload));
    });
  }

  async prepare(c: BenchCase): Promise<RoundTrip> {
    const expected = dataBytes(c.payload);
    if (dataBytes(await this.call(c.payload)) !== expected) {
      throw new Error(`ws-json echo of ${c.name} came back with other data`);
    }
    return async () => {
      await this.call(c.payload);
    };
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.close();
      await closed;
    }
  }
}
