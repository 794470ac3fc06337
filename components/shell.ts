/** Shell text helpers shared by every script the stack renders for a host. */

/** Characters a POSIX shell passes through unquoted and unexpanded. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for a POSIX shell; words made only of safe characters stay bare for readability. */
export function shellQuote(word: string): string {
  if (word.length > 0 && SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
