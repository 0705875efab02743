/**
 * The model of the batching set: a small image classifier built in code with TensorFlow.js (no download), run on the
 * CPU by its WebAssembly backend (XNNPACK kernels, SIMD, one thread; the pure JavaScript backend where WebAssembly
 * cannot start). An MLP on 32x32x3 uint8 images: 3072 -> 1024 -> 1024 -> 10, ReLU, softmax; 4.2 M float32 weights from
 * a fixed seed.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

import { IMAGE_SHAPE } from './batching.js';

const INPUT = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2];
/** Widths of the layers after the input. */
const LAYERS = [1024, 1024, 10];

/** One prediction. */
export interface Prediction {
  label: number;
  score: number;
}

/** The classifier. */
export class Classifier {
  private constructor(
    private readonly weights: [tf.Tensor2D, tf.Tensor1D][],
    /** The TensorFlow.js backend it runs on: `wasm` or `cpu`. */
    readonly backend: string,
  ) {}

  /** Builds the model on the WebAssembly backend, or the JavaScript one when WebAssembly fails to start. */
  static async create(): Promise<Classifier> {
    let ok = false;
    try {
      ok = await tf.setBackend('wasm');
    } catch {
      ok = false;
    }
    if (!ok) await tf.setBackend('cpu');
    await tf.ready();
    const weights: [tf.Tensor2D, tf.Tensor1D][] = [];
    let width = INPUT;
    LAYERS.forEach((next, i) => {
      const scale = Math.sqrt(2 / width);
      weights.push([tf.randomNormal([width, next], 0, scale, 'float32', 42 + i) as tf.Tensor2D, tf.zeros([next])]);
      width = next;
    });
    return new Classifier(weights, tf.getBackend());
  }

  /** Classifies `images` (uint8, {@link IMAGE_SHAPE} each) in one batch. */
  predict(images: readonly Uint8Array[]): Prediction[] {
    const n = images.length;
    const input = new Float32Array(n * INPUT);
    images.forEach((img, i) => {
      if (img.length !== INPUT) throw new Error(`image of ${img.length} bytes, expected ${INPUT}`);
      for (let j = 0; j < INPUT; j++) input[i * INPUT + j] = img[j]! / 255;
    });
    const probs = tf.tidy(() => {
      let x: tf.Tensor2D = tf.tensor2d(input, [n, INPUT]);
      this.weights.forEach(([w, b], i) => {
        x = tf.add(tf.matMul(x, w), b);
        if (i + 1 < this.weights.length) x = tf.relu(x);
      });
      return tf.softmax(x);
    });
    const data = probs.dataSync();
    probs.dispose();
    const classes = LAYERS[LAYERS.length - 1]!;
    const out: Prediction[] = [];
    for (let i = 0; i < n; i++) {
      let label = 0;
      for (let c = 1; c < classes; c++) if (data[i * classes + c]! > data[i * classes + label]!) label = c;
      out.push({ label, score: data[i * classes + label]! });
    }
    return out;
  }
}
