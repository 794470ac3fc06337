// Helpers shared by the Lambda dynamic providers. Everything here is free of module-level state
// so that Pulumi can serialize it by value into the dynamic-provider process.
import { durationMs } from "../../duration";
import { isIpv4Cidr } from "../../network";

export { isIpv4Cidr };
import type * as pulumi from "@pulumi/pulumi";
import { LambdaClient, resolveClientOptions } from "./client";
import { systemClock, type WaitClock } from "./clock";
import { isLambdaError } from "./errors";
import { isRegionCode } from "./names";

export { isRegionCode };

export { sleep, systemClock, type WaitClock } from "./clock";

/**
 * Bumped whenever provider behaviour changes in a way existing resources should pick up:
 * provider code changes alone produce no diff, a changed input does (and runs `update`).
 */
export const LAMBDA_PROVIDER_VERSION = "1";

/** The value Pulumi substitutes for inputs not known yet (during preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Inputs every Lambda dynamic resource carries. None of them is a secret. */
export interface LambdaCommonInputs {
  /** Behaviour version of the provider code; see LAMBDA_PROVIDER_VERSION. */
  providerVersion: string;
  /**
   * Fully-qualified stack-config key holding the API key (e.g. `hgx-inference:lambdaApiKey`).
   * Only the key's NAME is stored; the value arrives through the provider's `configure`.
   */
  apiKeyConfigKey?: string;
  /** API base URL; empty = env LAMBDA_API_BASE_URL, else the public API. */
  apiBaseUrl?: string;
}

/** The `LambdaCommonInputs` that only route API calls: a change there is an update, never a replace. */
export const API_ROUTING_KEYS = ["providerVersion", "apiKeyConfigKey", "apiBaseUrl"] as const;

/** Resource arguments every Lambda dynamic resource accepts (the settable `LambdaCommonInputs`). */
export interface LambdaCommonArgs {
  /** Fully-qualified stack-config key holding the API key. @default none (env LAMBDA_API_KEY) */
  apiKeyConfigKey?: pulumi.Input<string>;
  /** API base URL. @default env LAMBDA_API_BASE_URL, else https://cloud.lambda.ai/api/v1 */
  apiBaseUrl?: pulumi.Input<string>;
}

/** Minimal view of the stack configuration handed to a dynamic provider's `configure`. */
export interface StackConfigView {
  get(key: string): string | undefined;
}

const PROVIDER_METHODS = ["configure", "check", "diff", "create", "read", "update", "delete"] as const;

/**
 * The provider with every method's failure reduced to its message. The dynamic-provider host
 * prints `${error}: ${error.stack}` for read/delete/check/diff failures; these messages already
 * name the cause and the fix, and a stack trace of the provider's internals would bury them.
 * Everything else about the error (class, `id`/`properties` of an init failure) is kept.
 */
export function withoutStackTraces<P extends pulumi.dynamic.ResourceProvider>(provider: P): P {
  const wrapped: Record<string, unknown> = {};
  for (const key of PROVIDER_METHODS) {
    const method = (provider as unknown as Record<string, unknown>)[key];
    if (typeof method !== "function") continue;
    wrapped[key] = async (...args: unknown[]) => {
      try {
        return await (method as (...a: unknown[]) => Promise<unknown>).apply(provider, args);
      } catch (e) {
        const err = asError(e);
        Object.defineProperty(err, "stack", { value: "", configurable: true, writable: true });
        throw err;
      }
    };
  }
  return wrapped as unknown as P;
}

/**
 * `e` as an Error whose message is the one it carries. A thrown object that is not an `Error`
 * instance (the project's error classes are copies in the serialized provider, so their
 * instances fail `instanceof Error` there) keeps its `message` and its other fields (`kind`, and
 * `id`/`properties` of an init failure); `String(e)` would make it "[object Object]".
 */
export function asError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === "object" && e !== null) {
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string") {
      const err = new Error(message);
      for (const [key, value] of Object.entries(e)) {
        if (key !== "message" && key !== "stack") (err as unknown as Record<string, unknown>)[key] = value;
      }
      const name = (e as { name?: unknown }).name;
      if (typeof name === "string") err.name = name;
      return err;
    }
  }
  return new Error(String(e));
}

/** A client for one provider call: credentials resolved now, inside the provider process. */
export function clientFor(inputs: LambdaCommonInputs, stackConfig: StackConfigView | undefined): LambdaClient {
  return new LambdaClient(
    resolveClientOptions({ stackConfig, apiKeyConfigKey: inputs.apiKeyConfigKey, baseUrl: inputs.apiBaseUrl }),
  );
}

/** Timings of long waits, overridable through the environment (tests shrink them). */
export interface WaitSettings {
  /**
   * Gap between two status polls: what bounds how late `active` (or a terminated instance) is seen.
   * 5 s keeps a few replicas' polls well under the API's ~1 request/s. @default 5000 (env LAMBDA_POLL_INTERVAL_MS)
   */
  readonly pollMs: number;
  /** A progress line at least this often during a wait. @default 60000 (env LAMBDA_PROGRESS_INTERVAL_MS) */
  readonly progressMs: number;
  /** How long `delete` waits for `terminated`. @default 1200000 (env LAMBDA_TERMINATE_TIMEOUT_MS) */
  readonly terminateTimeoutMs: number;
  /** How long a delete keeps retrying an object still in use. @default 900000 (env LAMBDA_IN_USE_TIMEOUT_MS) */
  readonly inUseTimeoutMs: number;
  /** Gap between launch attempts while waiting for capacity in a pinned region. @default 60000 (env LAMBDA_CAPACITY_RETRY_MS) */
  readonly capacityRetryMs: number;
}

export function waitSettings(env: NodeJS.ProcessEnv = process.env): WaitSettings {
  const num = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`Environment variable ${name}="${raw}" is not a non-negative number of milliseconds; unset it or fix it.`);
    return n;
  };
  return {
    pollMs: num("LAMBDA_POLL_INTERVAL_MS", 5_000),
    progressMs: num("LAMBDA_PROGRESS_INTERVAL_MS", 60_000),
    terminateTimeoutMs: num("LAMBDA_TERMINATE_TIMEOUT_MS", 1_200_000),
    inUseTimeoutMs: num("LAMBDA_IN_USE_TIMEOUT_MS", 900_000),
    capacityRetryMs: num("LAMBDA_CAPACITY_RETRY_MS", 60_000),
  };
}

/**
 * Ids of filesystems this process created and no instance has mounted yet: provably empty, so a
 * launch refused in their region may move them. Process-wide (every dynamic resource of one
 * deployment runs in one provider process), on `globalThis` like the client's pacer; a later
 * deployment starts empty, so a filesystem from an earlier one always counts as holding weights.
 */
export function freshFilesystems(): Set<string> {
  const store = globalThis as unknown as Record<symbol, Set<string> | undefined>;
  const key = Symbol.for("hgx.lambda-cloud.fresh-filesystems");
  let set = store[key];
  if (!set) {
    set = new Set<string>();
    store[key] = set;
  }
  return set;
}

/**
 * A progress line from inside a provider. The dynamic-provider process has no engine
 * connection (pulumi.log falls back to stdout there); the engine shows a provider's stderr.
 */
export function progress(line: string): void {
  console.error(`[lambda] ${line}`);
}


/** What `deleteWhileInUse` says while it waits, and when it gives up. */
export interface InUseMessages {
  /** The error thrown once the in-use timeout would be exceeded. */
  stillInUse(elapsed: string): string;
  /** A progress line while retrying. */
  retrying(elapsed: string): string;
}

/**
 * Runs `attemptDelete` until it succeeds or the object is gone, retrying while the API answers
 * "in use" (filesystems and rulesets free up some time after their instance terminated).
 * Bounded by time (LAMBDA_IN_USE_TIMEOUT_MS) and by count; false when the count ran out.
 */
export async function deleteWhileInUse(attemptDelete: () => Promise<void>, say: InUseMessages, clock: WaitClock = systemClock()): Promise<boolean> {
  const { inUseTimeoutMs, pollMs, progressMs } = waitSettings();
  const started = clock.now();
  let lastReport = started;
  for (let attempt = 1; attempt <= 10_000; attempt++) {
    try {
      await attemptDelete();
      return true;
    } catch (e) {
      if (isLambdaError(e, "not-found")) return true;
      if (!isLambdaError(e, "in-use")) throw e;
      const elapsed = clock.now() - started;
      if (elapsed + pollMs > inUseTimeoutMs) throw new Error(say.stillInUse(formatElapsed(elapsed)));
      if (clock.now() - lastReport >= progressMs) {
        progress(say.retrying(formatElapsed(elapsed)));
        lastReport = clock.now();
      }
      await clock.sleep(pollMs);
    }
  }
  return false;
}

/** "12m 05s" from milliseconds, for progress lines. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}h ${pad(m)}m ${pad(s)}s` : `${m}m ${pad(s)}s`;
}

/**
 * Parses a readable duration: "45m", "8h", "2d", "90s", "45 minutes", "1h30m", "0" (a unit is
 * required otherwise). `setting` names the argument in the error message.
 */
export function parseDuration(text: string, setting: string): number {
  const t = String(text).trim();
  if (t === "0") return 0;
  const value = durationMs(t);
  if (value === undefined || value < 0) {
    throw new Error(`${setting}: "${text}" is not a duration; write it like "45m", "8h", "2d", "90s" or "1h30m" ("0" = none).`);
  }
  return value;
}

/** 32-bit FNV-1a, hex: a short stable suffix for names that had to be shortened. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * A Lambda object name from parts: characters outside [A-Za-z0-9-] become "-", and a name
 * longer than `max` is cut and suffixed with a hash of the full name so it stays unique.
 */
export function objectName(parts: readonly string[], max = 64): string {
  const full = parts
    .join("-")
    .replace(/[^A-Za-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  if (full.length <= max) return full;
  const suffix = shortHash(full);
  return `${full.slice(0, max - suffix.length - 1).replace(/-$/, "")}-${suffix}`;
}

/**
 * Drops `undefined` members (deeply). The dynamic-provider host converts results with protobuf's
 * Struct.fromJavaScript, which rejects `undefined` ("Unexpected struct type").
 */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Deep equality for plain JSON values (inputs and outputs of dynamic resources). */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalize(x);
    }
    return out;
  }
  return v === null ? undefined : v;
}

/** Keys among `keys` whose values differ between old and new (unknown new values count as different). */
export function changedKeys<T extends object>(olds: T, news: T, keys: readonly (keyof T & string)[]): string[] {
  return keys.filter((k) => !sameJson(olds[k], news[k]));
}

/** Whether a value is (or contains) Pulumi's preview placeholder. */
export function containsUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v && typeof v === "object") return Object.values(v as Record<string, unknown>).some(containsUnknown);
  return false;
}

/**
 * Failures for a `regions` input: `emptyReason` when it is not a non-empty list, one per entry
 * that is not a region code. Nothing while the list is unknown (preview).
 */
export function regionFailures(regions: readonly string[], emptyReason: string): { property: string; reason: string }[] {
  if (containsUnknown(regions)) return [];
  if (!Array.isArray(regions) || regions.length === 0) return [{ property: "regions", reason: emptyReason }];
  return regions
    .filter((r) => !isRegionCode(r))
    .map((r) => ({ property: "regions", reason: `"${r}" is not a Lambda region code (like "us-east-1")` }));
}
