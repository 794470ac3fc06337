/**
 * The one parser for readable durations in settings ("45m", "8h", "2d", "90 minutes", "1.5h",
 * "1h30m", "-2h"), built on the `ms` library; each caller decides what a bare number means and
 * which values it accepts.
 */
import ms from "ms";

/**
 * Milliseconds for a duration made of one or more `<number><unit>` parts (units as `ms` knows
 * them: ms, s, m, h, d, w, y and their long forms), optionally negative; undefined when the text
 * is not such a duration (a bare number has no unit and is undefined here).
 */
export function durationMs(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  const negative = trimmed.startsWith("-");
  const body = negative ? trimmed.slice(1).trim() : trimmed;
  const part = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*/g;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = part.exec(body)) !== null) {
    if (match.index !== consumed) return undefined;
    const value = ms(`${match[1]} ${match[2]}` as ms.StringValue);
    if (typeof value !== "number" || !Number.isFinite(value)) return undefined;
    total += value;
    consumed = part.lastIndex;
  }
  if (body === "" || consumed !== body.length) return undefined;
  return Math.round(negative ? -total : total);
}
