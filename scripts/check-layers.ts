/**
 * `npm run check:layers`: fails (exit 1) on an import in `src/` that runs up a layer, across modes, or into a
 * transport implementation (rules in `layers.ts`).
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkLayers } from './layers.js';

const root = join(import.meta.dirname, '..', 'src');
const files = new Map<string, string>();
const walk = (dir: string): void => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.ts')) files.set(relative(root, p).split('\\').join('/'), readFileSync(p, 'utf8'));
  }
};
walk(root);
const violations = checkLayers(files);
for (const v of violations) console.error(`src/${v.file} imports src/${v.target}: ${v.rule}`);
console.log(`layers: ${files.size} files, ${violations.length} violations`);
process.exitCode = violations.length === 0 ? 0 : 1;
