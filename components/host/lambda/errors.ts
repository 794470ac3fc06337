// Typed errors for the Lambda Cloud API. The API is branched on `error.code` only (its
// `message` and `suggestion` texts may change), and every message says what to do next.
// None of these errors holds the request, its headers or the underlying axios error:
// axios errors embed the request config, Authorization header included.

/** Where the API key comes from, for messages that must tell the operator how to fix it. */
export const API_KEY_HELP =
  "Set it as a secret stack setting (`pulumi config set --secret lambdaApiKey <key>`) or export LAMBDA_API_KEY " +
  "in the environment that runs `pulumi`; create keys at https://cloud.lambda.ai/api-keys";

export interface LambdaErrorDetails {
  /** API error code, e.g. `global/quota-exceeded`; `http/<status>` when the body had none. */
  readonly code: string;
  /** HTTP status, or 0 when no response arrived. */
  readonly status: number;
  /** `METHOD /path` of the failed call (path below the base URL, never with credentials). */
  readonly operation: string;
  /** The API's own message, secrets redacted. */
  readonly apiMessage?: string;
}

/**
 * What kind of failure a Lambda error is. Callers branch on this field, never on `instanceof`:
 * Pulumi serializes each dynamic provider into another process, where the error classes are
 * copies and an error is no longer an instance of the class the caller names.
 */
export const LAMBDA_ERROR_KINDS = [
  "api",
  "invalid-api-key",
  "account",
  "quota-exceeded",
  "invalid-parameters",
  "capacity",
  "filesystem-region",
  "not-found",
  "duplicate",
  "in-use",
  "rate-limited",
  "service",
  "missing-api-key",
] as const;
export type LambdaErrorKind = (typeof LAMBDA_ERROR_KINDS)[number];

/** The fields every Lambda error carries, whatever process or copy of the class made it. */
export interface LambdaErrorShape {
  readonly kind: LambdaErrorKind;
  readonly message: string;
  readonly retryable?: boolean;
  readonly code?: string;
  readonly apiMessage?: string;
}

/**
 * Whether `e` is a Lambda error (of one of `kinds`, when given), judged by its `kind` field alone
 * so that it holds across Pulumi's serialization boundary.
 */
export function isLambdaError(e: unknown, ...kinds: LambdaErrorKind[]): e is LambdaErrorShape {
  if (typeof e !== "object" || e === null) return false;
  const kind = (e as { kind?: unknown }).kind;
  if (typeof kind !== "string" || !(LAMBDA_ERROR_KINDS as readonly string[]).includes(kind)) return false;
  return kinds.length === 0 || kinds.includes(kind as LambdaErrorKind);
}

/** What a Lambda error class is called and which kind it reports. */
export interface LambdaErrorIdentity {
  readonly name: string;
  readonly kind: LambdaErrorKind;
}

/** Base class: any failed Lambda Cloud API call. */
export class LambdaApiError extends Error {
  /** See LAMBDA_ERROR_KINDS; each subclass sets its own (assigned, not a field initializer: see below). */
  kind: LambdaErrorKind;
  readonly code: string;
  readonly status: number;
  readonly operation: string;
  readonly apiMessage?: string;
  /** Whether repeating the same call later can succeed (429, 5xx, `provider/*`, network). */
  readonly retryable: boolean;

  /**
   * `as` names the subclass (its `name` and `kind`), passed up rather than assigned after `super`, so each
   * subclass is its advice and its name alone.
   */
  constructor(details: LambdaErrorDetails, advice: string, as: LambdaErrorIdentity = { name: "LambdaApiError", kind: "api" }, retryable = false) {
    const api = details.apiMessage ? ` (API says: ${details.apiMessage})` : "";
    const status = details.status ? `HTTP ${details.status}` : "no response";
    const message = `Lambda Cloud API ${details.operation} failed with ${details.code}, ${status}${api}. ${advice}`;
    super(message);
    // Set explicitly: in Pulumi's serialized form the class becomes a function and Error's
    // constructor no longer initializes `this`.
    this.message = message;
    if (!this.stack) Error.captureStackTrace(this);
    // Not `new.target.name`: Pulumi's closure serializer rewrites classes, and new.target is lost.
    this.name = as.name;
    this.kind = as.kind;
    this.code = details.code;
    this.status = details.status;
    this.operation = details.operation;
    this.apiMessage = details.apiMessage;
    this.retryable = retryable;
  }
}

/** `global/invalid-api-key`: the key is wrong, expired or deleted. Fatal. */
export class InvalidApiKeyError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    super(d, `The Lambda Cloud API key was rejected (invalid, expired or deleted). Create a new key and use it. ${API_KEY_HELP}.`, { name: "InvalidApiKeyError", kind: "invalid-api-key" });
  }
}

/** `global/account-inactive` or `global/invalid-address`: the account cannot launch. Fatal. */
export class AccountError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    const advice =
      d.code === "global/invalid-address"
        ? "The account's billing address is invalid: correct it in the Lambda Cloud dashboard (Settings > Billing), then re-run."
        : "The Lambda Cloud account is inactive: check its status and payment method in the dashboard or contact Lambda support, then re-run.";
    super(d, advice, { name: "AccountError", kind: "account" });
  }
}

/** `global/quota-exceeded`. Fatal. */
export class QuotaExceededError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    super(
      d,
      "The account's quota is exhausted: terminate instances (or delete filesystems) you no longer need, or ask Lambda support to raise the quota, then re-run.",
      { name: "QuotaExceededError", kind: "quota-exceeded" },
    );
  }
}

/** `global/invalid-parameters`: the request was malformed. Fatal. */
export class InvalidParametersError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    super(
      d,
      "The API rejected the request's parameters: check the LambdaMachine settings (regions, instanceType, imageFamily, names, firewall CIDRs) against the message above.",
      { name: "InvalidParametersError", kind: "invalid-parameters" },
    );
  }
}

/**
 * `instance-operations/launch/insufficient-capacity`. `advice` says what the caller already tried
 * and what is left to do; without it the message only states the refusal.
 */
export class CapacityError extends LambdaApiError {
  constructor(
    d: LambdaErrorDetails,
    readonly region?: string,
    readonly instanceType?: string,
    advice?: string,
  ) {
    super(
      d,
      `No capacity for ${instanceType ?? "the instance type"} in ${region ?? "the region"} right now. ${advice ?? "Retry later, or launch in another region."}`,
      { name: "CapacityError", kind: "capacity" },
    );
  }
}

/** `instance-operations/launch/file-system-in-wrong-region`: config error. */
export class FilesystemRegionError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    super(
      d,
      "A filesystem can only be attached in its own region: launch in the filesystem's region, or use another `filesystemName`.",
      { name: "FilesystemRegionError", kind: "filesystem-region" },
    );
  }
}

/** `global/object-does-not-exist` (or HTTP 404): the instance, key, filesystem or ruleset is gone. */
export class NotFoundError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    super(d, "The object does not exist (deleted outside Pulumi?): run `pulumi refresh` to reconcile the stack's state.", { name: "NotFoundError", kind: "not-found" });
  }
}

/** `global/duplicate`: a name is already taken. */
export class DuplicateError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    super(d, "An object with this name already exists in the account: pick another name or delete the existing one.", { name: "DuplicateError", kind: "duplicate" });
  }
}

/** `filesystems/filesystem-in-use` or `firewall-rulesets/firewall-ruleset-in-use`. */
export class InUseError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    super(
      d,
      "The object is still attached to an instance (it frees up some time after the instance is terminated): terminate the instance and retry.",
      { name: "InUseError", kind: "in-use" },
    );
  }
}

/** HTTP 429 after the retry budget ran out. */
export class RateLimitedError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    super(d, "Lambda Cloud kept rate-limiting the requests (about 1 request/s, 1 launch per 12 s): wait a minute and re-run; avoid running several stacks against one account at once.", { name: "RateLimitedError", kind: "rate-limited" }, true);
  }
}

/** 5xx, `global/internal-error`, `provider/*` or a network failure, after retries ran out. */
export class ServiceError extends LambdaApiError {
  constructor(d: LambdaErrorDetails) {
    super(d, "Lambda Cloud (or its upstream) had a transient fault that outlasted the retries: check https://status.lambda.ai and re-run.", { name: "ServiceError", kind: "service" }, true);
  }
}

/** No API key anywhere. */
export class MissingApiKeyError extends Error {
  kind: LambdaErrorKind;
  constructor(where: string) {
    const message = `No Lambda Cloud API key found (looked in ${where}). ${API_KEY_HELP}.`;
    super(message);
    this.message = message; // see LambdaApiError
    this.name = "MissingApiKeyError";
    this.kind = "missing-api-key";
  }
}

/** Whether a failed call is worth repeating: 429, 5xx, `provider/*`, `global/internal-error` or no response. */
export function isRetryable(status: number, code: string): boolean {
  return status === 429 || status === 0 || status >= 500 || code.startsWith("provider/") || code === "global/internal-error";
}

/** Maps an API failure to its typed error. `context` names region/type for capacity errors. */
export function errorFromResponse(
  d: LambdaErrorDetails,
  context: { region?: string; instanceType?: string } = {},
): LambdaApiError {
  switch (d.code) {
    case "global/invalid-api-key":
      return new InvalidApiKeyError(d);
    case "global/account-inactive":
    case "global/invalid-address":
      return new AccountError(d);
    case "global/quota-exceeded":
      return new QuotaExceededError(d);
    case "global/invalid-parameters":
      return new InvalidParametersError(d);
    case "instance-operations/launch/insufficient-capacity":
      return new CapacityError(d, context.region, context.instanceType);
    case "instance-operations/launch/file-system-in-wrong-region":
      return new FilesystemRegionError(d);
    case "global/object-does-not-exist":
      return new NotFoundError(d);
    case "global/duplicate":
      return new DuplicateError(d);
    case "filesystems/filesystem-in-use":
    case "firewall-rulesets/firewall-ruleset-in-use":
      return new InUseError(d);
  }
  if (d.status === 429) return new RateLimitedError(d);
  if (isRetryable(d.status, d.code)) return new ServiceError(d);
  if (d.status === 401) return new InvalidApiKeyError(d);
  if (d.status === 404) return new NotFoundError(d);
  return new LambdaApiError(d, "Unexpected API failure: check the message above and the Lambda Cloud status page, then re-run.");
}

/** Replaces every occurrence of each secret (and any Bearer/Basic credential) with `***`. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join("***");
  }
  return out.replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, "$1 ***");
}
