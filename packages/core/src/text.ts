// Rules for text that becomes part of a store key or an indexed value. The stores encode text as
// UTF-8: a lone UTF-16 surrogate has no UTF-8 form and is silently replaced by U+FFFD (so the key
// that was written is not the key that is later read), PostgreSQL refuses NUL in text outright, and
// its indexes refuse rows over ~2.7 KB. Such text is refused before it reaches a store.

/** A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const controlCharacter = /[\u0000-\u001F\u007F]/;

/** Whether `text` is well-formed UTF-16 (no lone surrogates), so that it has an exact UTF-8 form. */
export function isWellFormed(text: string): boolean {
  return !loneSurrogate.test(text);
}

/** Bytes of `text` in UTF-8. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Where a lone surrogate sits, for messages: `at index 11 (U+D83D)`. */
function describeSurrogate(text: string): string {
  const match = loneSurrogate.exec(text);
  if (!match) return '';
  const code = match[0].charCodeAt(0).toString(16).toUpperCase();
  return ` at index ${match.index} (a lone surrogate U+${code}, e.g. an emoji cut in half)`;
}

/**
 * What is wrong with a string that becomes a store key or an indexed value (an id, an assignee, an
 * idempotency key), or undefined. Identifiers are well-formed Unicode, have no control characters
 * (NUL included) and are at most `maxBytes` long in UTF-8.
 */
export function identifierProblem(text: string, maxBytes: number): string | undefined {
  if (!isWellFormed(text)) return `is not well-formed Unicode${describeSurrogate(text)}`;
  const control = controlCharacter.exec(text);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    return `contains a control character (U+${code}) at index ${control.index}`;
  }
  const bytes = utf8Length(text);
  if (bytes > maxBytes) return `is ${bytes} bytes long in UTF-8; at most ${maxBytes} are allowed`;
  return undefined;
}

/**
 * What is wrong with free text the engine stores inside JSON (a title, a comment, a string in a
 * context), or undefined: it must be well-formed Unicode, since hashing and every store encode it
 * as UTF-8. NUL and other control characters are fine here: JSON escapes them.
 */
export function textProblem(text: string): string | undefined {
  return isWellFormed(text) ? undefined : `is not well-formed Unicode${describeSurrogate(text)}`;
}
