/**
 * The WASM backend: @jsquash/jpeg (mozjpeg compiled to WebAssembly) in one `worker_threads` worker, so that the event
 * loop keeps serving while it works. JPEG only; used when sharp is not installed, or when asked for by name.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ProtocolError } from '../core/errors.js';
import type { Image, ImageFormat } from '../tensor/image.js';
import type { EncodeTarget, ImageBackend, Pixels } from './backend.js';
import { WASM_WORKER_SOURCE } from './wasm-worker-source.js';

interface Reply {
  id: number;
  data?: Uint8Array;
  width?: number;
  height?: number;
  error?: string;
}

/** Resolves to the backend, or `undefined` when @jsquash/jpeg is not installed. */
export async function loadWasm(): Promise<ImageBackend | undefined> {
  let dir: string;
  try {
    dir = dirname(createRequire(import.meta.url).resolve('@jsquash/jpeg/package.json'));
  } catch {
    return undefined;
  }
  return new WasmBackend(dir);
}

class WasmBackend implements ImageBackend {
  readonly name = 'wasm';
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  constructor(private readonly dir: string) {}

  supports(format: ImageFormat): boolean {
    return format === 'jpeg';
  }

  private call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (!this.worker) {
      const w = new Worker(WASM_WORKER_SOURCE, { eval: true, workerData: { dir: this.dir } });
      w.on('message', (r: Reply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        if (this.pending.size === 0) w.unref();
        p.resolve(r);
      });
      w.on('error', (e) => this.fail(w, e));
      w.on('exit', () => this.fail(w, new Error('image worker exited')));
      this.worker = w;
    }
    const id = this.nextId++;
    this.worker.ref();
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({ ...message, id }, transfer);
    });
  }

  private fail(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new ProtocolError(`image worker failed: ${e.message}`));
    this.pending.clear();
  }

  async decode(image: Image): Promise<Uint8Array> {
    // mozjpeg fills a truncated scan with gray and returns it: refuse data without its end marker (EOI) instead.
    const b = image.bytes;
    let end = b.length;
    while (end > 2 && b[end - 1] === 0) end--;
    if (b[end - 2] !== 0xff || b[end - 1] !== 0xd9)
      throw new ProtocolError('cannot decode jpeg image: truncated (no EOI)');
    const r = await this.call({ op: 'decode', bytes: image.bytes, channels: image.channels });
    if (r.error !== undefined || !r.data) throw new ProtocolError(`cannot decode jpeg image: ${r.error}`);
    if (r.width !== image.width || r.height !== image.height) {
      throw new ProtocolError('jpeg image decoded to another size than its header declares');
    }
    return r.data;
  }

  async encode(px: Pixels, t: EncodeTarget): Promise<Uint8Array> {
    const r = await this.call({
      op: 'encode',
      data: px.data,
      width: px.width,
      height: px.height,
      channels: px.channels,
      quality: t.quality,
      outWidth: t.width ?? px.width,
      outHeight: t.height ?? px.height,
    });
    if (r.error !== undefined || !r.data) throw new ProtocolError(`cannot encode jpeg image: ${r.error}`);
    return r.data;
  }
}
