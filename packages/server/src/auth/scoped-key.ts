// Idempotency keys in the caller's own namespace (no imports: the error module uses it too).

/**
 * The key as the engine sees it: in the caller's own namespace, so that one identity can never be
 * handed another's intent or task by reusing its key. `<length of id>:<actor id>:<key>` cannot be
 * read two ways.
 */
export function scopedKey(principal: { actor: { id: string } }, key: string): string {
  return `${principal.actor.id.length}:${principal.actor.id}:${key}`;
}

/** The key as the client gave it. */
export function unscopedKey(stored: string): string {
  const match = /^(\d+):/.exec(stored);
  if (!match) return stored;
  const start = (match[0] as string).length + Number(match[1]) + 1;
  return stored.length >= start && stored[start - 1] === ':' ? stored.slice(start) : stored;
}
