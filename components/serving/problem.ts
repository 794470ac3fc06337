/**
 * A planner's finding, structured: which setting (`key`, in the planner's own input terms), what is
 * wrong with its value (`message`), and what to do (`fix`). Callers map `key` to their own setting names
 * (the stack maps it to a config key) instead of classifying the text.
 */
export interface Problem<K extends string = string> {
  readonly key: K;
  /** The setting and the value seen, e.g. `port 0 (host port) is out of range`. */
  readonly message: string;
  /**
   * What to change, e.g. `use an integer in 1-65535`. Empty only where a shared validator's text
   * already carries its fix (`validateImageRef`).
   */
  readonly fix: string;
}

export function problem<K extends string>(key: K, message: string, fix: string): Problem<K> {
  return { key, message, fix };
}

/** The one-line text of a problem, as printed: `<message>; <fix>`. */
export function renderProblem(p: Problem): string {
  return p.fix === "" ? p.message : `${p.message}; ${p.fix}`;
}

/** Findings of a validation step: fatal problems and informative warnings. */
export interface Findings<K extends string = string> {
  readonly problems: Problem<K>[];
  readonly warnings: string[];
}
