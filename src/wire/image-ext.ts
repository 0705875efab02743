/**
 * Ext type 4, an encoded image (docs/protocol.md, "Images"): body `[format, [height, width, channels], ref]`, the
 * encoded bytes in their own data frame. The decoder checks the declared format and shape against the image's own
 * header and yields an {@link Image}; it never decodes pixels.
 *
 * @module
 */
import { ProtocolError } from '../core/errors.js';
import { Image, isImageFormat } from '../tensor/image.js';
import type { FrameRef, FrameTable } from './frame-refs.js';
import { writeRef } from './frame-refs.js';
import type { MsgpackWriter } from './msgpack-writer.js';

/** msgpack ext type of an encoded image; body: `[format, [height, width, channels], frameReference]`. */
export const EXT_IMAGE = 4;

/** Writes the ext 4 value of `image` whose bytes went to frame `ref`. */
export function writeImageExt(w: MsgpackWriter, image: Image, ref: FrameRef): void {
  const mark = w.extStart();
  w.arrayHeader(3);
  w.string(image.format);
  w.arrayHeader(3);
  w.int(image.height);
  w.int(image.width);
  w.int(image.channels);
  writeRef(w, ref);
  w.extEnd(EXT_IMAGE, mark);
}

/** The {@link Image} of an ext 4 body. @throws {@link ProtocolError} for a malformed body or a mismatched header */
export function readImageExt(body: unknown, table: FrameTable): Image {
  if (!Array.isArray(body) || body.length !== 3) throw new ProtocolError('image ext needs [format, shape, frame]');
  const [format, shape, ref] = body as [unknown, unknown, unknown];
  if (!isImageFormat(format)) throw new ProtocolError(`unknown image format ${JSON.stringify(format)}`);
  if (
    !Array.isArray(shape) ||
    shape.length !== 3 ||
    !shape.every((d: unknown) => typeof d === 'number' && Number.isSafeInteger(d) && d > 0)
  ) {
    throw new ProtocolError('image shape must be [height, width, channels] of positive integers');
  }
  const image = new Image(table.take(ref), format);
  const [h, w, c] = shape as number[];
  if (image.height !== h || image.width !== w || image.channels !== c) {
    throw new ProtocolError(
      `image shape [${shape.join(', ')}] differs from its ${format} header [${image.shape.join(', ')}]`,
    );
  }
  return image;
}
