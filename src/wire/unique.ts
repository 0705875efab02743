/**
 * Checks on decoded lists that msgpack cannot express: a list of names sent as an array (observation keys, say)
 * must not repeat a name, just as a map must not repeat a key.
 *
 * @module
 */
import { ProtocolError } from '../core/errors.js';
import { peerText } from '../core/peer-text.js';

/**
 * Throws a {@link ProtocolError} when `list` is an array that holds the same string twice; anything else passes
 * (the caller validates types). Stops at the first repeat: O(n) time, memory proportional to the distinct names.
 * @param what what the list is, for the message (`"observation keys"`)
 */
export function refuseDuplicateNames(list: unknown, what: string): void {
  if (!Array.isArray(list) || list.length < 2) return;
  const seen = new Set<unknown>();
  for (const name of list as unknown[]) {
    if (typeof name === 'string' && seen.has(name)) {
      throw new ProtocolError(`${what} repeat ${peerText(name)}; each name may appear once`);
    }
    seen.add(name);
  }
}
