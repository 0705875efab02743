/**
 * Bounded text from peer input. Every error message that quotes something a peer sent (a method, interface, table or
 * map key name, a config value) goes through {@link peerText}, so an attacker who sends a 15 MiB name gets back, and
 * makes the server build, a message of a few hundred characters, never one proportional to the input.
 *
 * @module
 */

/** Longest quoted peer input in an error message, in characters (the quote marks and suffix not counted). */
export const PEER_TEXT_MAX = 200;

/**
 * `text` cut to its first `max` characters, followed by `… (N more chars)` when it was longer. Never splits a
 * surrogate pair.
 */
export function truncateText(text: string, max = PEER_TEXT_MAX): string {
  if (text.length <= max) return text;
  let end = Math.max(0, Math.floor(max));
  const code = text.charCodeAt(end - 1);
  if (end > 0 && code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}… (${text.length - end} more chars)`;
}

/** A bounded one-line description of a non-string value: never walks more than a few entries. */
function describe(value: unknown, max: number): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'boolean':
      return String(value);
    case 'string':
      return JSON.stringify(truncateText(value, max));
    case 'object':
      break;
    default:
      return typeof value;
  }
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) {
    return `<${value.constructor.name} of ${value.byteLength} bytes>`;
  }
  if (Array.isArray(value)) return `[array of ${value.length}]`;
  return '{object}';
}

/**
 * A short, JSON-ish form of `value` for an error message built from peer input: a string is quoted (JSON escapes)
 * after being cut to `max` characters (`"abc…" … (N more chars)`); numbers, booleans, null and bigints as
 * themselves; byte strings, typed arrays, arrays and objects by their kind and size only. The result never exceeds
 * `max` plus a few dozen characters, whatever the input.
 */
export function peerText(value: unknown, max = PEER_TEXT_MAX): string {
  if (typeof value === 'string') {
    if (value.length <= max) return JSON.stringify(value);
    const cut = truncateText(value, max);
    const at = cut.lastIndexOf('… (');
    return `${JSON.stringify(cut.slice(0, at))}${cut.slice(at)}`;
  }
  return truncateText(describe(value, max), max + 40);
}
