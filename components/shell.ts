/** Shell text helpers shared by every script the stack renders for a host. */

/** Characters a POSIX shell passes through unquoted and unexpanded. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for a POSIX shell; words made only of safe characters stay bare for readability. */
export function shellQuote(word: string): string {
  if (word.length > 0 && SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Bash: a private temp dir `$WORK` (0700, removed on exit) and, when `$API_KEY` is set, a 0600 header file in it
 * that curl reads through `"${AUTH[@]}"`, so the key never reaches a command line. Expects `API_KEY` to be set.
 */
export const BASH_WORKDIR_WITH_AUTH_HEADER = `WORK=$(mktemp -d)
chmod 700 "$WORK"
trap 'rm -rf "$WORK"' EXIT
AUTH=()
if [ -n "$API_KEY" ]; then
  ( umask 077; printf 'Authorization: Bearer %s\\n' "$API_KEY" > "$WORK/auth" )
  AUTH=(-H "@$WORK/auth")
fi
`;

/**
 * Bash lines that read `$<name>` from stdin's first line, where the caller put it base64-encoded
 * (`frameSecretStdin` in host/connection.ts): no value can end that line early, so nothing of a
 * secret — a pasted two-line token, say — is ever read as the script or shown in its argv. An
 * empty line is an empty secret; a line that is not base64 stops the script (exit 2) without
 * echoing it.
 */
export function bashReadSecretLine(name: string): string {
  if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new Error(`bashReadSecretLine: ${JSON.stringify(name)} is not an upper-case shell variable name`);
  return `${name}=""
IFS= read -r ${name} || true
if [ -n "$${name}" ]; then
  ${name}=$(printf '%s' "$${name}" | base64 -d 2>/dev/null) || { echo "stdin's first line is not the base64 framing of ${name}; refusing to run" >&2; exit 2; }
fi
`;
}

/**
 * Bash prologue of a script fed on stdin whose first line is a secret: `set -uo pipefail`, a `ts` UTC
 * timestamp function, and `$<name>` decoded from that first line (empty when there is none), so the
 * secret never reaches a command line.
 */
export function bashPrologueReadingSecret(name: string): string {
  if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new Error(`bashPrologueReadingSecret: ${JSON.stringify(name)} is not an upper-case shell variable name`);
  return `set -uo pipefail
ts() { date -u +%Y-%m-%dT%H:%M:%SZ; }
${bashReadSecretLine(name)}`;
}
