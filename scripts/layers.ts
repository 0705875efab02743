/**
 * The import rules of `src/` (docs: ../shared/DESIGN.md, "Layers"): dependencies point one way,
 * core ← tensor ← wire ← transport ← messaging (and image, beside it) ← modes ← cli ← entry points; modes never import each other (except
 * `env`, which is built on `action`); transport implementations (`transport/<name>/`) never import each other, and
 * only the transport registry (by dynamic `import()`) and the entry points reach into them. The command-line app
 * (`cli/`) may load an entry point by dynamic `import()` (`edgeml/nats` for `nats://` targets), as a program would.
 *
 * @module
 */
import { posix } from 'node:path';

/** `image` (encoders and decoders) sits beside `messaging`: below the modes, which use it; it never imports them. */
const RANKS: Record<string, number> = {
  core: 0,
  tensor: 1,
  wire: 2,
  transport: 3,
  messaging: 4,
  image: 4,
  modes: 5,
  cli: 6,
};
/** Files directly in `src/` are the entry points: they may import anything. */
const ENTRY_RANK = 7;
/** The one allowed import across modes. */
const MODE_EXCEPTIONS = new Set(['env->action']);

/** One import that breaks a rule. */
export interface Violation {
  file: string;
  target: string;
  rule: string;
}

interface Place {
  rank: number;
  /** `modes/<name>` or `transport/<name>` for files in such a folder. */
  part: string | undefined;
  top: string;
}

function place(path: string): Place | undefined {
  const parts = path.split('/');
  if (parts.length === 1) return { rank: ENTRY_RANK, part: undefined, top: '' };
  const top = parts[0] ?? '';
  const rank = RANKS[top];
  if (rank === undefined) return undefined;
  const part = (top === 'modes' || top === 'transport') && parts.length > 2 ? parts[1] : undefined;
  return { rank, part, top };
}

const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;

/**
 * The violations in `files` (paths relative to `src/`, POSIX separators, mapped to their source text).
 */
export function checkLayers(files: ReadonlyMap<string, string>): Violation[] {
  const out: Violation[] = [];
  for (const [file, source] of files) {
    const from = place(file);
    if (!from) continue;
    for (const m of source.matchAll(IMPORT)) {
      const spec = m[2] ?? '';
      const dynamic = m[0].includes('(');
      const target = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      const to = place(target);
      if (!to) continue;
      const fail = (rule: string): void => {
        out.push({ file, target, rule });
      };
      // The command-line app loads an entry point (edgeml/nats) on demand, as a user's program would.
      if (from.top === 'cli' && to.rank === ENTRY_RANK && dynamic) continue;
      if (to.rank > from.rank) {
        fail(`${from.top || 'entry'} may not import from ${to.top} (a layer above)`);
        continue;
      }
      if (from.top === 'modes' && to.top === 'modes' && from.part !== to.part) {
        if (!MODE_EXCEPTIONS.has(`${from.part}->${to.part}`))
          fail(`modes/${from.part} may not import modes/${to.part}`);
      }
      if (to.top === 'transport' && to.part !== undefined && from.rank !== ENTRY_RANK) {
        const sameImpl = from.top === 'transport' && from.part === to.part;
        const registry = from.top === 'transport' && from.part === undefined && dynamic;
        if (!sameImpl && !registry) {
          fail(`only the registry (by import()) and the entry points may load transport/${to.part}`);
        }
      }
    }
  }
  return out;
}
