/**
 * `npm run build:browser`: bundles `src/browser.ts` (`edgeml/browser`) with esbuild into `dist/browser/edgeml.js`
 * (ESM, minified, with a source map), for the `browser` condition of the package's `exports`. `--check` (what
 * `npm run check:bundle` runs) then fails when the bundle is over {@link MAX_GZIP_BYTES} gzipped or reaches for
 * Node: a `node:` import, `Buffer`, `process` or `require`.
 *
 * What a browser cannot run is replaced by stubs that fail when used: the ZeroMQ transport (loaded by the registry
 * only for `tcp://` URLs), the CURVE key tools (ZeroMQ only), the WebSocket server side (loaded only to bind) and
 * the `ws` package (a Node 20 client's fallback; browsers have `WebSocket`).
 *
 * @module
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, type Plugin } from 'esbuild';

const root = join(import.meta.dirname, '..');
const outfile = join(root, 'dist', 'browser', 'edgeml.js');

/** Largest bundle accepted, minified and gzipped. */
export const MAX_GZIP_BYTES = 40 * 1024;

const unavailable = (what: string): string =>
  `const no = () => { throw new Error(${JSON.stringify(`${what} is not available in the browser build of edgeml`)}); };`;

/** Stubbed modules: source files (relative to `src/`, as imported: `.js`) or package names. */
const STUBS: { module: string; contents: string }[] = [
  {
    module: 'transport/zmq/zmq-transport.js',
    contents: `${unavailable('ZeroMQ (tcp:// endpoints)')} export class ZmqTransport { constructor() { no(); } }`,
  },
  {
    module: 'transport/curve-keys.js',
    contents: `${unavailable('CURVE security (ZeroMQ)')} export const resolveClientSecurity = no; export const resolveServerSecurity = no;`,
  },
  {
    module: 'transport/ws/server.js',
    contents: `${unavailable('A WebSocket server')} export class WsListener { constructor() { no(); } }`,
  },
  {
    // Node's image codecs (sharp, the WASM codec in a worker thread): a page encodes with its own canvas.
    module: 'image/wasm-backend.js',
    contents: 'export async function loadWasm() { return undefined; }',
  },
  {
    module: 'image/sharp-backend.js',
    contents: 'export async function loadSharp() { return undefined; }',
  },
  {
    module: 'ws',
    contents: `${unavailable("The 'ws' package")} export const WebSocket = globalThis.WebSocket; export default WebSocket;`,
  },
];

const stubs: Plugin = {
  name: 'edgeml-browser-stubs',
  setup(b) {
    const src = join(root, 'src');
    b.onResolve({ filter: /^(\.|ws$)/ }, (args) => {
      const target = args.path === 'ws' ? 'ws' : resolve(args.resolveDir, args.path);
      const i = STUBS.findIndex((s) => (s.module === 'ws' ? target === 'ws' : target === join(src, s.module)));
      return i < 0 ? undefined : { path: `${i}:${STUBS[i]!.module}`, namespace: 'edgeml-stub' };
    });
    b.onLoad({ filter: /.*/, namespace: 'edgeml-stub' }, (args) => {
      const i = Number(args.path.slice(0, args.path.indexOf(':')));
      return { contents: STUBS[i]!.contents, loader: 'js' };
    });
  },
};

/** Builds the bundle; returns its size, raw and gzipped. */
export async function buildBrowser(): Promise<{ bytes: number; gzipBytes: number; path: string }> {
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [join(root, 'src', 'browser.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    outfile,
    plugins: [stubs],
    logLevel: 'warning',
  });
  const code = readFileSync(outfile);
  return { bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length, path: outfile };
}

/** Ways the bundle could still reach for Node (outside strings is not told apart: any mention fails). */
const NODE_ONLY: { what: string; pattern: RegExp }[] = [
  { what: 'a node: import', pattern: /["']node:[a-z_/]+["']/ },
  { what: 'Buffer', pattern: /(?<![.\w$])Buffer\b/ },
  { what: 'process', pattern: /(?<![.\w$])process\./ },
  { what: 'require', pattern: /(?<![.\w$])require\(/ },
];

/** The problems of a built bundle: over size, or a Node-only use. */
export function checkBundle(result: { gzipBytes: number; path: string }): string[] {
  const problems: string[] = [];
  if (result.gzipBytes > MAX_GZIP_BYTES) {
    problems.push(`bundle is ${result.gzipBytes} bytes gzipped, over the ${MAX_GZIP_BYTES}-byte budget`);
  }
  const code = readFileSync(result.path, 'utf8');
  for (const { what, pattern } of NODE_ONLY) {
    const m = pattern.exec(code);
    if (m) problems.push(`bundle uses ${what}: …${code.slice(Math.max(0, m.index - 40), m.index + 40)}…`);
  }
  return problems;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const result = await buildBrowser();
  console.log(
    `${result.path}: ${(result.bytes / 1024).toFixed(1)} kB minified, ${(result.gzipBytes / 1024).toFixed(1)} kB gzipped`,
  );
  if (process.argv.includes('--check')) {
    const problems = checkBundle(result);
    for (const p of problems) console.error(`check:bundle: ${p}`);
    if (problems.length > 0) process.exit(1);
    console.log(`check:bundle: ok (budget ${MAX_GZIP_BYTES / 1024} kB gzipped, no Node built-ins)`);
  }
}
