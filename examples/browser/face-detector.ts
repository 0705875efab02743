/**
 * A real face detector for the browser example: `@vladmandic/face-api`'s tiny face detector (weights from its
 * `model/` folder) on TensorFlow.js with the CPU backend, in Node. face-api's module for bundlers imports the
 * umbrella `@tensorflow/tfjs` package; this builds it once (esbuild, into `.tmp/`) against `@tensorflow/tfjs-core`
 * and `@tensorflow/tfjs-backend-cpu` alone, so no native TensorFlow and no WebGL are needed.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = join(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);

/** One detected face: its box in pixels of the input image, and the detector's score. */
export interface Face {
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
}

interface FaceApi {
  tf: {
    setBackend(name: string): Promise<boolean>;
    ready(): Promise<void>;
    tensor3d(values: Uint8Array, shape: [number, number, number], dtype: 'int32'): { dispose(): void };
    io: { decodeWeights(data: ArrayBuffer, specs: unknown[]): Record<string, unknown> };
  };
  nets: { tinyFaceDetector: { loadFromWeightMap(map: Record<string, unknown>): Promise<void> } };
  TinyFaceDetectorOptions: new (o: { inputSize: number; scoreThreshold: number }) => unknown;
  detectAllFaces(
    input: unknown,
    options: unknown,
  ): Promise<{ box: { x: number; y: number; width: number; height: number }; score: number }[]>;
}

const tfShim: Plugin = {
  name: 'tfjs-core-only',
  setup(b) {
    b.onResolve({ filter: /^@tensorflow\/tfjs\/dist\/index\.js$/ }, () => ({ path: 'tfjs', namespace: 'shim' }));
    b.onResolve({ filter: /^@tensorflow\/tfjs-backend-(webgl|wasm)\/dist\/index\.js$/ }, () => ({
      path: 'none',
      namespace: 'shim',
    }));
    b.onLoad({ filter: /.*/, namespace: 'shim' }, (args) => ({
      contents:
        args.path === 'tfjs'
          ? "export * from '@tensorflow/tfjs-core/dist/index.js';\n" +
            "import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';\n" +
            "export * as cpu from '@tensorflow/tfjs-backend-cpu/dist/index.js';\n"
          : 'export {};',
      resolveDir: root,
      loader: 'js',
    }));
  },
};

/** Loads face-api and the tiny face detector; resolves with a function that finds faces in an RGB image. */
export async function loadFaceDetector(): Promise<(rgb: Uint8Array, height: number, width: number) => Promise<Face[]>> {
  const outfile = join(root, '.tmp', 'examples', 'face-api.mjs');
  await build({
    stdin: { contents: "export * from '@vladmandic/face-api/dist/face-api.esm-nobundle.js';", resolveDir: root },
    bundle: true,
    format: 'esm',
    platform: 'node',
    outfile,
    plugins: [tfShim],
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const faceapi = (await import(pathToFileURL(outfile).href)) as FaceApi;
  await faceapi.tf.setBackend('cpu');
  await faceapi.tf.ready();
  const models = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  const manifest = JSON.parse(readFileSync(join(models, 'tiny_face_detector_model-weights_manifest.json'), 'utf8')) as {
    weights: unknown[];
  }[];
  const bin = readFileSync(join(models, 'tiny_face_detector_model.bin'));
  const weights = faceapi.tf.io.decodeWeights(
    bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
    manifest.flatMap((g) => g.weights),
  );
  await faceapi.nets.tinyFaceDetector.loadFromWeightMap(weights);
  const options = new faceapi.TinyFaceDetectorOptions({ inputSize: 224, scoreThreshold: 0.4 });
  return async (rgb, height, width) => {
    const input = faceapi.tf.tensor3d(rgb, [height, width, 3], 'int32');
    try {
      const found = await faceapi.detectAllFaces(input, options);
      return found.map((d) => ({ ...pick(d.box), score: d.score }));
    } finally {
      input.dispose();
    }
  };
}

function pick(b: { x: number; y: number; width: number; height: number }): Omit<Face, 'score'> {
  return { x: b.x, y: b.y, width: b.width, height: b.height };
}
