/**
 * A synthetic camera frame for the image benchmarks: 480 × 640 RGB with smooth gradients, edges and sensor noise, so
 * that JPEG costs and sizes are those of a real scene rather than of a flat or random picture. Deterministic.
 *
 * @module
 */
import { Tensor } from '../src/tensor/tensor.js';

/** A 480 × 640 × 3 uint8 frame; `seed` shifts the scene (different cameras, successive frames). */
export function cameraFrame(seed = 0, height = 480, width = 640): Tensor<'uint8'> {
  const data = new Uint8Array(height * width * 3);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const noise = (s >>> 28) - 8;
      const sx = x + seed * 7;
      const block = ((sx >> 6) + (y >> 6)) & 1 ? 40 : 0;
      const disc = (sx - 320) ** 2 + (y - 240) ** 2 < 120 ** 2 ? 60 : 0;
      const i = (y * width + x) * 3;
      data[i] = Math.max(0, Math.min(255, ((sx * 255) / width + block + noise) | 0));
      data[i + 1] = Math.max(0, Math.min(255, ((y * 255) / height + disc + noise) | 0));
      data[i + 2] = Math.max(0, Math.min(255, 128 + Math.sin(sx / 23) * 60 + Math.cos(y / 17) * 40 + noise));
    }
  }
  return new Tensor('uint8', data, [height, width, 3]);
}
