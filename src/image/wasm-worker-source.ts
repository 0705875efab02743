/**
 * The source of the worker thread that runs the WASM JPEG codec (@jsquash/jpeg, mozjpeg compiled to WebAssembly). It
 * is started with `eval: true` so that it works the same from the TypeScript sources and from `dist/`. Messages in:
 * `{id, op: 'decode', bytes, channels}` or `{id, op: 'encode', data, width, height, channels, quality, outWidth,
 * outHeight}`; out: `{id, data}` or `{id, error}`. A codec instance that failed is dropped and made again.
 *
 * @module
 */
export const WASM_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { pathToFileURL } = require('node:url');
const dir = workerData.dir;
const quiet = { print() {}, printErr() {} };
const codecs = {};
function load(kind) {
  codecs[kind] ??= (async () => {
    const mod = await import(pathToFileURL(dir + '/' + kind + '.js').href);
    const file = kind === 'decode' ? '/codec/dec/mozjpeg_dec.wasm' : '/codec/enc/mozjpeg_enc.wasm';
    await mod.init(new WebAssembly.Module(readFileSync(dir + file)), quiet);
    return mod.default;
  })();
  return codecs[kind];
}
function resize(src, w, h, c, ow, oh) {
  const out = new Uint8Array(ow * oh * c);
  const sx = w / ow, sy = h / oh;
  for (let y = 0; y < oh; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5), y0 = Math.floor(fy), y1 = Math.min(h - 1, y0 + 1), wy = fy - y0;
    for (let x = 0; x < ow; x++) {
      const fx = Math.max(0, (x + 0.5) * sx - 0.5), x0 = Math.floor(fx), x1 = Math.min(w - 1, x0 + 1), wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * w + x0) * c + k], b = src[(y0 * w + x1) * c + k];
        const d = src[(y1 * w + x0) * c + k], e = src[(y1 * w + x1) * c + k];
        out[(y * ow + x) * c + k] = Math.round((a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy);
      }
    }
  }
  return out;
}
const OPTIONS = { baseline: true, progressive: false, optimize_coding: true, trellis_multipass: false,
  trellis_opt_zero: false, trellis_opt_table: false, trellis_loops: 1, chroma_subsample: 2, auto_subsample: false };
parentPort.on('message', async (m) => {
  try {
    if (m.op === 'decode') {
      const decode = await load('decode');
      const img = await decode(m.bytes);
      const n = img.width * img.height, c = m.channels, rgba = img.data, out = new Uint8Array(n * c);
      if (c === 3) for (let i = 0, j = 0; i < n; i++, j += 4) { out[i * 3] = rgba[j]; out[i * 3 + 1] = rgba[j + 1]; out[i * 3 + 2] = rgba[j + 2]; }
      else for (let i = 0; i < n; i++) out[i] = rgba[i * 4];
      parentPort.postMessage({ id: m.id, data: out, width: img.width, height: img.height }, [out.buffer]);
    } else {
      const encode = await load('encode');
      let { data, width, height } = m;
      const c = m.channels;
      if (m.outWidth !== width || m.outHeight !== height) {
        data = resize(data, width, height, c, m.outWidth, m.outHeight);
        width = m.outWidth; height = m.outHeight;
      }
      const n = width * height, rgba = new Uint8ClampedArray(n * 4);
      for (let i = 0; i < n; i++) {
        const s = i * c, d = i * 4;
        if (c === 1) { rgba[d] = rgba[d + 1] = rgba[d + 2] = data[s]; }
        else { rgba[d] = data[s]; rgba[d + 1] = data[s + 1]; rgba[d + 2] = data[s + 2]; }
        rgba[d + 3] = 255;
      }
      const out = new Uint8Array(await encode({ data: rgba, width, height }, { ...OPTIONS, quality: m.quality }));
      parentPort.postMessage({ id: m.id, data: out }, [out.buffer]);
    }
  } catch (e) {
    delete codecs[m.op];
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
  }
});
`;
