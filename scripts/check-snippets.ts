/**
 * `npm run check:snippets`: type-checks every ```ts block of README.md and docs/*.md under the project's strict
 * settings, each block as a module of its own that imports `edgeml` as a user would (the package's self-reference,
 * so the published `.d.ts` files are what is checked: run `npm run build` first). Exit 1 on any error.
 *
 * A block stands alone: whatever it uses but does not make (a camera, a model) it declares, as a reader pasting it
 * would have to.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, '.tmp', 'snippets');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const files: string[] = [];
for (const doc of docs) {
  const text = readFileSync(join(root, doc), 'utf8');
  let n = 0;
  for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```/gm)) {
    n++;
    const line = text.slice(0, m.index).split('\n').length;
    const name = `${doc.replace(/[/.]/g, '_')}_${n}.ts`;
    // `export {}` makes a block without imports a module too, so blocks never share names.
    writeFileSync(join(out, name), `// ${doc}:${line}\n${m[1]}\nexport {};\n`);
    files.push(name);
  }
}
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    extends: '../../tsconfig.json',
    compilerOptions: { noEmit: true, rootDir: '.', noUnusedLocals: false, noUnusedParameters: false },
    include: ['*.ts'],
  }),
);
try {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', out], {
    stdio: 'inherit',
  });
  console.log(`snippets: ${files.length} blocks from ${docs.length} files type-check`);
} catch {
  console.error(`snippets: type errors above (blocks are in ${out}; each starts with its doc and line)`);
  process.exitCode = 1;
}
