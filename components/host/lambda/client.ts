// Lambda Cloud API v1 client: Bearer auth, one process-wide pacing, bounded jittered retries,
// typed errors. It is used inside dynamic-provider methods, which Pulumi serializes and runs
// in a separate process, so: axios is taken with `require` inside the method that needs it,
// and the only process-wide state lives on `globalThis` (created on first use, never at import).
import type { AxiosResponse } from "axios";
import { systemClock, type WaitClock } from "./clock";
import { assertEngineAlive } from "./engineGuard";
import {
  errorFromResponse,
  isRetryable,
  LambdaApiError,
  MissingApiKeyError,
  redact,
  type LambdaErrorDetails,
} from "./errors";
import type {
  ApiErrorBody,
  Filesystem,
  FirewallRule,
  FirewallRuleset,
  GeneratedSshKey,
  Image,
  Instance,
  InstanceTypesItem,
  LaunchRequest,
  SshKey,
} from "./types";

export const DEFAULT_BASE_URL = "https://cloud.lambda.ai/api/v1";

/** Lambda's documented limits: about 1 request per second overall, 1 launch per 12 s. */
export const LAMBDA_RATE_LIMITS = { requestIntervalMs: 1_000, launchIntervalMs: 12_000 } as const;

/**
 * Extra spacing on top of the limits. Requests are paced from the moment they are sent, but the
 * API counts from the moment they arrive: a launch sent exactly 12 s after the previous one
 * arrives early whenever the previous one took longer to deliver, earning a 429 and another
 * 12 s wait. The margin absorbs delivery jitter up to its size.
 */
export const PACING_MARGIN_MS = { request: 200, launch: 1_000 } as const;

/** Default pacing: limit + margin (1.2 s between requests, 13 s between launches). */
export const DEFAULT_REQUEST_INTERVAL_MS = LAMBDA_RATE_LIMITS.requestIntervalMs + PACING_MARGIN_MS.request;
export const DEFAULT_LAUNCH_INTERVAL_MS = LAMBDA_RATE_LIMITS.launchIntervalMs + PACING_MARGIN_MS.launch;

/** Retry policy: exponential backoff with jitter, bounded in attempts AND total time. */
export interface RetryPolicy {
  /** Attempts per call, first one included. @default 6 (env LAMBDA_API_RETRY_MAX_ATTEMPTS) */
  readonly maxAttempts: number;
  /** Give up when the next wait would end later than this after the first attempt. @default 180000 (env LAMBDA_API_RETRY_MAX_TOTAL_MS) */
  readonly maxTotalMs: number;
  /** First backoff; doubles each attempt. @default 1000 (env LAMBDA_API_RETRY_BASE_MS) */
  readonly baseDelayMs: number;
  /** Cap of one backoff. @default 30000 */
  readonly maxDelayMs: number;
}

export interface LambdaClientOptions {
  /** API key (sent as `Authorization: Bearer`; never logged, never in error messages). */
  readonly apiKey: string;
  /** @default "https://cloud.lambda.ai/api/v1" */
  readonly baseUrl?: string;
  /** Minimum gap between any two requests of this process. @default 1200 (env LAMBDA_API_REQUEST_INTERVAL_MS) */
  readonly requestIntervalMs?: number;
  /** Minimum gap between two launches of this process. @default 13000 (env LAMBDA_API_LAUNCH_INTERVAL_MS) */
  readonly launchIntervalMs?: number;
  /** Pacing schedule. @default the process-wide `sharedPacer()` (must belong to the same clock) */
  readonly pacer?: Pacer;
  readonly retry?: Partial<RetryPolicy>;
  /** Per-request timeout. @default 30000 (env LAMBDA_API_TIMEOUT_MS) */
  readonly timeoutMs?: number;
  /** Where retry notices go. @default console.error */
  readonly log?: (line: string) => void;
  /** Time source of pacing and backoff (tests step it virtually). @default systemClock() */
  readonly clock?: WaitClock;
}

/** Reads a non-negative number from the environment; a malformed value is an error naming the variable. */
export function envMs(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw new Error(`Environment variable ${name}="${raw}" is not a non-negative number of milliseconds; unset it or fix it.`);
  }
  return n;
}

/** Delay before retry number `attempt` (1-based): base·2^(attempt-1), capped, with "equal jitter". */
export function backoffDelayMs(attempt: number, policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Pacing state: the earliest time of the next request and of the next launch. */
export interface Pacer {
  nextRequestAt: number;
  nextLaunchAt: number;
}

const PACER_KEY = "hgx.lambda-cloud.pacer";

/** The process-wide pacer, created on first use under a `globalThis` symbol so every copy of this module shares it. */
export function sharedPacer(): Pacer {
  const store = globalThis as unknown as Record<symbol, Pacer | undefined>;
  const key = Symbol.for(PACER_KEY);
  let p = store[key];
  if (!p) {
    p = { nextRequestAt: 0, nextLaunchAt: 0 };
    store[key] = p;
  }
  return p;
}

/**
 * Reserves the next slot on `pacer` for a call made at `now`: returns when to send it and moves
 * the schedule on. Launches also keep `launchIntervalMs` from the previous launch.
 */
export function reserveSlot(pacer: Pacer, now: number, isLaunch: boolean, intervals: { requestIntervalMs: number; launchIntervalMs: number }): number {
  let at = Math.max(now, pacer.nextRequestAt);
  if (isLaunch) {
    at = Math.max(at, pacer.nextLaunchAt);
    pacer.nextLaunchAt = at + intervals.launchIntervalMs;
  }
  pacer.nextRequestAt = at + intervals.requestIntervalMs;
  return at;
}

type CallKind = "read" | "write" | "launch";

interface CallOptions {
  readonly body?: unknown;
  /**
   * `launch` retries only HTTP 429 (certainly not processed): after a 5xx or a lost response
   * the instance may exist, and the caller must look for it before launching again.
   */
  readonly kind: CallKind;
  readonly context?: { region?: string; instanceType?: string };
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1";
  } catch {
    return false;
  }
}

export class LambdaClient {
  readonly baseUrl: string;
  // Non-enumerable, so logging, inspecting or JSON-serializing the client never shows it. (Not an
  // ES `#private` field: Pulumi's closure serializer cannot serialize classes that use them.)
  private declare readonly apiKey: string;
  private readonly requestIntervalMs: number;
  private readonly launchIntervalMs: number;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly log: (line: string) => void;
  private readonly clock: WaitClock;
  private readonly pacer: Pacer;

  constructor(opts: LambdaClientOptions) {
    if (!opts.apiKey) throw new MissingApiKeyError("the client options");
    Object.defineProperty(this, "apiKey", { value: opts.apiKey, enumerable: false, writable: false });
    const base = (opts.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    if (!/^https?:\/\//.test(base)) {
      throw new Error(`Lambda API base URL "${base}" must start with https:// (or http:// for a local emulator); fix lambdaApiUrl or LAMBDA_API_BASE_URL.`);
    }
    this.baseUrl = base;
    this.requestIntervalMs = opts.requestIntervalMs ?? envMs("LAMBDA_API_REQUEST_INTERVAL_MS", DEFAULT_REQUEST_INTERVAL_MS);
    this.launchIntervalMs = opts.launchIntervalMs ?? envMs("LAMBDA_API_LAUNCH_INTERVAL_MS", DEFAULT_LAUNCH_INTERVAL_MS);
    this.retry = {
      maxAttempts: Math.max(1, opts.retry?.maxAttempts ?? envMs("LAMBDA_API_RETRY_MAX_ATTEMPTS", 6)),
      maxTotalMs: opts.retry?.maxTotalMs ?? envMs("LAMBDA_API_RETRY_MAX_TOTAL_MS", 180_000),
      baseDelayMs: opts.retry?.baseDelayMs ?? envMs("LAMBDA_API_RETRY_BASE_MS", 1000),
      maxDelayMs: opts.retry?.maxDelayMs ?? 30_000,
    };
    this.timeoutMs = opts.timeoutMs ?? envMs("LAMBDA_API_TIMEOUT_MS", 30_000);
    this.log = opts.log ?? ((line) => console.error(line));
    this.clock = opts.clock ?? systemClock();
    this.pacer = opts.pacer ?? sharedPacer();
  }

  // ---- instance types, images ---------------------------------------------------------------
  listInstanceTypes(): Promise<Record<string, InstanceTypesItem>> {
    return this.call("GET", "/instance-types", { kind: "read" });
  }
  listImages(): Promise<Image[]> {
    return this.call("GET", "/images", { kind: "read" });
  }

  // ---- instances -----------------------------------------------------------------------------
  /** Launches one instance and returns its id. Retries only 429 (see CallOptions.kind). */
  async launchInstance(req: LaunchRequest): Promise<string> {
    const res = await this.call<{ instance_ids: string[] }>("POST", "/instance-operations/launch", {
      kind: "launch",
      body: req,
      context: { region: req.region_name, instanceType: req.instance_type_name },
    });
    const id = res.instance_ids?.[0];
    if (!id) throw new Error("Lambda Cloud API launch answered without an instance id; check the dashboard for a stray instance.");
    return id;
  }
  listInstances(): Promise<Instance[]> {
    return this.call("GET", "/instances", { kind: "read" });
  }
  /** Throws NotFoundError once the instance is gone. */
  getInstance(id: string): Promise<Instance> {
    return this.call("GET", `/instances/${encodeURIComponent(id)}`, { kind: "read" });
  }
  async terminateInstances(ids: string[]): Promise<Instance[]> {
    const res = await this.call<{ terminated_instances: Instance[] }>("POST", "/instance-operations/terminate", {
      kind: "write",
      body: { instance_ids: ids },
    });
    return res.terminated_instances ?? [];
  }

  // ---- SSH keys ------------------------------------------------------------------------------
  listSshKeys(): Promise<SshKey[]> {
    return this.call("GET", "/ssh-keys", { kind: "read" });
  }
  /** Registers `publicKey`, or (without it) has the API generate a pair; `private_key` is returned once. */
  addSshKey(name: string, publicKey?: string): Promise<SshKey | GeneratedSshKey> {
    const body = publicKey ? { name, public_key: publicKey } : { name };
    return this.call("POST", "/ssh-keys", { kind: "write", body });
  }
  async deleteSshKey(id: string): Promise<void> {
    await this.call("DELETE", `/ssh-keys/${encodeURIComponent(id)}`, { kind: "write" });
  }

  // ---- filesystems (note: list is /file-systems, create/delete /filesystems) -------------------
  listFilesystems(): Promise<Filesystem[]> {
    return this.call("GET", "/file-systems", { kind: "read" });
  }
  createFilesystem(name: string, region: string): Promise<Filesystem> {
    return this.call("POST", "/filesystems", { kind: "write", body: { name, region } });
  }
  async deleteFilesystem(id: string): Promise<void> {
    await this.call("DELETE", `/filesystems/${encodeURIComponent(id)}`, { kind: "write" });
  }

  // ---- firewall rulesets ---------------------------------------------------------------------
  listFirewallRulesets(): Promise<FirewallRuleset[]> {
    return this.call("GET", "/firewall-rulesets", { kind: "read" });
  }
  getFirewallRuleset(id: string): Promise<FirewallRuleset> {
    return this.call("GET", `/firewall-rulesets/${encodeURIComponent(id)}`, { kind: "read" });
  }
  createFirewallRuleset(name: string, region: string, rules: FirewallRule[]): Promise<FirewallRuleset> {
    return this.call("POST", "/firewall-rulesets", { kind: "write", body: { name, region, rules } });
  }
  updateFirewallRuleset(id: string, patch: { name?: string; rules?: FirewallRule[] }): Promise<FirewallRuleset> {
    return this.call("PATCH", `/firewall-rulesets/${encodeURIComponent(id)}`, { kind: "write", body: patch });
  }
  async deleteFirewallRuleset(id: string): Promise<void> {
    await this.call("DELETE", `/firewall-rulesets/${encodeURIComponent(id)}`, { kind: "write" });
  }

  // ---- transport -----------------------------------------------------------------------------
  private async waitForSlot(kind: CallKind): Promise<void> {
    const now = this.clock.now();
    const at = reserveSlot(this.pacer, now, kind === "launch", {
      requestIntervalMs: this.requestIntervalMs,
      launchIntervalMs: this.launchIntervalMs,
    });
    await this.clock.sleep(at - now);
  }

  private async call<T>(method: string, path: string, opts: CallOptions): Promise<T> {
    const operation = `${method} ${path}`;
    const started = this.clock.now();
    for (let attempt = 1; ; attempt++) {
      await this.waitForSlot(opts.kind);
      const outcome = await this.send(method, path, opts.body);
      if (outcome.ok) return outcome.data as T;
      const d = outcome.details;
      const retryable = opts.kind === "launch" ? d.status === 429 : isRetryable(d.status, d.code);
      const delay = backoffDelayMs(attempt, this.retry);
      const withinBudget = attempt < this.retry.maxAttempts && this.clock.now() + delay - started <= this.retry.maxTotalMs;
      if (!retryable || !withinBudget) {
        const err = errorFromResponse(d, opts.context);
        if (retryable) {
          // Say how hard we tried; the message stays free of request details.
          err.message += ` (gave up after ${attempt} attempt(s) over ${Math.round((this.clock.now() - started) / 1000)} s)`;
        }
        throw err;
      }
      if (d.status === 429) {
        // Everyone in this process backs off, not just this call.
        this.pacer.nextRequestAt = Math.max(this.pacer.nextRequestAt, this.clock.now() + delay);
      }
      this.log(
        `[lambda-cloud] ${operation}: ${d.code} (HTTP ${d.status || "-"}), retry ${attempt}/${this.retry.maxAttempts - 1} in ${(delay / 1000).toFixed(1)} s`,
      );
      await this.clock.sleep(delay);
    }
  }

  private async send(
    method: string,
    path: string,
    body: unknown,
  ): Promise<{ ok: true; data: unknown } | { ok: false; details: LambdaErrorDetails }> {
    // Taken here, not at module level: this code runs in Pulumi's dynamic-provider process.
    const axios = (require("axios") as typeof import("axios")).default;
    const operation = `${method} ${path}`;
    // A provider orphaned by a killed deployment must not go on changing the account.
    await assertEngineAlive();
    let res: AxiosResponse<unknown>;
    try {
      res = await axios.request<unknown>({
        method,
        url: `${this.baseUrl}${path}`,
        data: body,
        headers: { Authorization: `Bearer ${this.apiKey}`, Accept: "application/json" },
        timeout: this.timeoutMs,
        validateStatus: () => true,
        // A local emulator must never be reached through an HTTP(S)_PROXY from the environment.
        proxy: isLoopback(this.baseUrl) ? false : undefined,
        maxRedirects: 0,
      });
    } catch (e) {
      // Never rethrow the axios error: its `config` holds the Authorization header.
      const err = e as { code?: string; message?: string };
      return {
        ok: false,
        details: {
          code: `network/${err.code ?? "error"}`,
          status: 0,
          operation,
          apiMessage: redact(String(err.message ?? "request failed"), [this.apiKey]),
        },
      };
    }
    const payload = res.data as { data?: unknown; error?: ApiErrorBody } | string | undefined;
    if (res.status >= 200 && res.status < 300) {
      if (payload && typeof payload === "object" && "data" in payload) return { ok: true, data: payload.data };
      return {
        ok: false,
        details: { code: "http/malformed-body", status: res.status, operation, apiMessage: "success response without a `data` field" },
      };
    }
    const apiError = payload && typeof payload === "object" ? payload.error : undefined;
    const code = apiError?.code ? String(apiError.code) : `http/${res.status}`;
    const text = [apiError?.message, apiError?.suggestion].filter((s): s is string => typeof s === "string" && s !== "").join(" ");
    return {
      ok: false,
      details: { code, status: res.status, operation, apiMessage: text ? redact(text, [this.apiKey]) : undefined },
    };
  }
}

/** Where a provider method finds its credentials; see `resolveClientOptions`. */
export interface CredentialSources {
  /** Stack configuration captured by the dynamic provider's `configure` (absent in direct calls). */
  readonly stackConfig?: { get(key: string): string | undefined };
  /** Fully-qualified stack-config key holding the API key, e.g. `hgx-inference:lambdaApiKey`. */
  readonly apiKeyConfigKey?: string;
  /** Base URL recorded in the resource's inputs (not a secret). */
  readonly baseUrl?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Resolves the API key and base URL inside a provider method:
 * key = stack config `apiKeyConfigKey` (delivered by `configure`) -> env LAMBDA_API_KEY;
 * base URL = the resource's `apiBaseUrl` input -> env LAMBDA_API_BASE_URL -> the public API.
 */
export function resolveClientOptions(src: CredentialSources): LambdaClientOptions {
  const env = src.env ?? process.env;
  const fromConfig = src.apiKeyConfigKey ? src.stackConfig?.get(src.apiKeyConfigKey) : undefined;
  const apiKey = (fromConfig && fromConfig.trim()) || (env.LAMBDA_API_KEY && env.LAMBDA_API_KEY.trim()) || "";
  if (!apiKey) {
    const where = [src.apiKeyConfigKey ? `stack config "${src.apiKeyConfigKey}"` : undefined, "env LAMBDA_API_KEY"]
      .filter(Boolean)
      .join(", ");
    throw new MissingApiKeyError(where);
  }
  const baseUrl = (src.baseUrl && src.baseUrl.trim()) || (env.LAMBDA_API_BASE_URL && env.LAMBDA_API_BASE_URL.trim()) || DEFAULT_BASE_URL;
  return { apiKey, baseUrl };
}

export { LambdaApiError };
