/**
 * What a layer's config slice is made of: the schema entries of its keys (Pulumi.yaml is generated
 * from them), the reader its parser reads raw values through, and the problems its cross-checks
 * report. Low in the layer order so a host provider (or any layer) can declare its own keys without
 * importing config, which assembles the slices and implements the reader.
 */
import type * as pulumi from "@pulumi/pulumi";

type SchemaType = "string" | "integer" | "boolean" | "array" | "object";

export interface ConfigKeySchema {
  readonly type: SchemaType;
  readonly description: string;
  /** Default applied when the key is unset (also written into Pulumi.yaml). */
  readonly default?: string | number | boolean | readonly string[] | Readonly<Record<string, unknown>>;
  /**
   * Must be stored as a Pulumi secret (`pulumi config set --secret`). Enforced by the config layer, not
   * by Pulumi.yaml: Pulumi treats a declared key without a default as required, and a secret with a
   * default as unencrypted, so optional secrets are declared with an empty default there.
   */
  readonly secret?: boolean;
}

/** A secret setting: whether it was given, and its value as a Pulumi secret. */
export interface SecretSetting {
  readonly present: boolean;
  readonly value: pulumi.Output<string>;
}

/** One problem with one setting; `message` names the value and the fix. */
export interface ConfigProblem {
  readonly key: string;
  readonly message: string;
}

/** An HTTP path without query, fragment, spaces or shell characters (an API base path, a benchmark endpoint). */
export const URL_PATH = /^\/[A-Za-z0-9._~\/-]*$/;

/** A check for `SettingsReader.pattern`: the reason a value is refused, or undefined. */
export type ValueCheck = (value: string) => string | undefined;

/** A `ValueCheck` from a pattern and the reason a value that misses it is refused. */
export function matches(pattern: RegExp, reason: string): ValueCheck {
  return (value) => (pattern.test(value) ? undefined : reason);
}

/**
 * Reads raw stack config with the schema's defaults, collecting problems (each naming the key, the
 * value and the fix) instead of throwing, so one run lists them all. `K` is the slice's own keys.
 */
export interface SettingsReader<K extends string> {
  string(key: K): string;
  optionalString(key: K): string | undefined;
  oneOf<T extends string>(key: K, allowed: readonly T[]): T;
  integer(key: K, min: number, max: number, fallback?: number): number;
  /** A plain decimal (`45.92`). */
  decimal(key: K, min: number): number;
  /** A string the check accepts; `optional` lets "" through (unset). */
  pattern(key: K, check: ValueCheck, example: string, opts?: { optional?: boolean }): string;
  boolean(key: K): boolean;
  /** `8h`, `45m`, `2d` in ms; `0` only where `allowZero`; `min`/`max` are durations themselves. */
  duration(key: K, opts?: { allowZero?: boolean; min?: string; max?: string; why?: string }): number;
  stringArray(key: K): string[];
  /** An object or array key's value (JSON text parsed); undefined when it is not JSON (recorded). */
  json(key: K): unknown;
  /** A Docker image reference with an explicit tag or digest (it reaches `docker run` lines). */
  imageRef(key: K): string;
  /** A secret setting; the value never enters a message. */
  secret(key: K, opts?: { multiline?: boolean }): SecretSetting;
  /** Records `<key> = <value> <reason>. Fix: <fix>`. */
  fail(key: string, value: unknown, reason: string, fix: string): void;
}
