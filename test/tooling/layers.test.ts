import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkLayers } from '../../scripts/layers.js';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function srcFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) files.set(relative(SRC, p).split('\\').join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(SRC);
  return files;
}

describe('layer check', () => {
  it('finds no violation in src/', () => {
    expect(checkLayers(srcFiles())).toEqual([]);
  });

  it('fails on a deliberate upward import (core importing messaging)', () => {
    const files = srcFiles();
    files.set('core/bad.ts', "import { RpcServer } from '../messaging/rpc-server.js';\n");
    expect(checkLayers(files)).toEqual([
      {
        file: 'core/bad.ts',
        target: 'messaging/rpc-server.ts',
        rule: 'core may not import from messaging (a layer above)',
      },
    ]);
  });

  it('keeps the image codecs below the modes and above the wire', () => {
    const files = new Map([
      ['image/bad.ts', "import { InferenceServer } from '../modes/inference/server.js';\n"],
      ['wire/bad.ts', "import { decodeImage } from '../image/codec.js';\n"],
      ['modes/inference/ok.ts', "import { decodeImage } from '../../image/codec.js';\n"],
    ]);
    expect(checkLayers(files).map((v) => v.rule)).toEqual([
      'image may not import from modes (a layer above)',
      'wire may not import from image (a layer above)',
    ]);
  });

  it('fails on an import across modes and on a mode loading a transport implementation', () => {
    const files = new Map([
      [
        'modes/inference/x.ts',
        "import { ActionServer } from '../action/server.js';\nimport { ZmqTransport } from '../../transport/zmq/zmq-transport.js';\n",
      ],
      ['modes/env/y.ts', "import { ActionClient } from '../action/client.js';\n"],
    ]);
    expect(checkLayers(files).map((v) => v.rule)).toEqual([
      'modes/inference may not import modes/action',
      'only the registry (by import()) and the entry points may load transport/zmq',
    ]);
  });
});
