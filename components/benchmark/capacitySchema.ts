/**
 * The capacity CLI's `--json` output (`{plan, capacity}`) as a JSON Schema, checked with ajv: every field typed, so a
 * wrong type is refused with its path (`capacity.maxConcurrency must be integer or null, got "eight"`) instead of
 * becoming a null answer downstream. Extra keys are allowed (a newer writer may add figures); missing ones are not,
 * except `resolution` and `provenance`, which files written before they existed lack: those parse as null (unknown).
 */
import Ajv, { type ErrorObject } from "ajv";
import type { CapacityPlan, CapacitySummary } from "./capacity";

const num = { type: "number" } as const;
const numOrNull = { type: ["number", "null"] } as const;
const int = { type: "integer" } as const;
const nonNegInt = { type: "integer", minimum: 0 } as const;
const str = { type: "string" } as const;
const bool = { type: "boolean" } as const;
const STOPS = ["resolved", "range-high-met", "range-low-missed", "time-cap", "interrupted", "sweep-only"];

function object(properties: Record<string, unknown>, optional: readonly string[] = []): Record<string, unknown> {
  return { type: "object", properties, required: Object.keys(properties).filter((k) => !optional.includes(k)) };
}

const pointSchema = object({
  order: nonNegInt,
  concurrency: { type: "integer", minimum: 1 },
  requestRate: { anyOf: [num, { const: "inf" }] },
  burstiness: num,
  meetsSlo: bool,
  misses: { type: "array", items: str },
  repeats: { type: "integer", minimum: 1 },
  completed: num,
  failed: num,
  durationS: num,
  inputTokens: num,
  outputTokens: num,
  requestsPerS: num,
  outputTokPerS: num,
  totalTokPerS: num,
  goodput: numOrNull,
  ttftMeanMs: num,
  ttftP99Ms: num,
  itlMeanMs: num,
  itlP99Ms: num,
  tpotMeanMs: num,
  tpotP99Ms: num,
  e2elMeanMs: numOrNull,
  e2elP99Ms: numOrNull,
  outputTokPerSPerUser: num,
  outputTokPerSPerGpu: num,
  totalTokPerSPerGpu: num,
  ci95: { type: "object", additionalProperties: { type: "array", items: num, minItems: 2, maxItems: 2 } },
  wallS: num,
});

const provenanceSchema = object({
  workload: object({
    dataset: str,
    inputLen: { type: "integer", minimum: 1 },
    outputLen: { type: "integer", minimum: 1 },
    rangeRatio: num,
    numPrompts: { type: "integer", minimum: 1 },
    promptsPerConcurrency: { type: ["integer", "null"], minimum: 1 },
    ignoreEos: bool,
    seed: int,
  }),
  model: str,
  servedModelName: str,
  tokenizer: str,
  tokenizerFallback: { type: ["string", "null"] },
  imageDigest: { type: ["string", "null"] },
  serverFlagsHash: { type: ["string", "null"] },
  router: { anyOf: [{ type: "null" }, object({ policy: str, replicas: { type: "integer", minimum: 1 } })] },
  runner: object({ name: str, version: str }),
  gpus: { type: ["integer", "null"], minimum: 1 },
  date: str,
}, ["gpus"]);

const capacitySchema = object(
  {
    axis: { enum: ["concurrency", "requestRate"] },
    slo: { anyOf: [{ type: "null" }, { type: "object", additionalProperties: num }] },
    maxConcurrency: { type: ["integer", "null"] },
    maxRequestRate: numOrNull,
    resolved: bool,
    stop: { enum: STOPS },
    firstMissing: numOrNull,
    nonMonotone: bool,
    atMax: {
      anyOf: [
        { type: "null" },
        object({ outputTokPerS: num, totalTokPerS: num, outputTokPerSPerUser: num, outputTokPerSPerGpu: num, totalTokPerSPerGpu: num, goodput: numOrNull }),
      ],
    },
    points: { type: "array", items: pointSchema },
    elapsedS: num,
    resolution: { type: ["number", "null"], exclusiveMinimum: 0 },
    provenance: { anyOf: [{ type: "null" }, provenanceSchema] },
  },
  ["resolution", "provenance"],
);

const planSchema = object(
  {
    axis: { enum: ["concurrency", "requestRate"] },
    bracketLevels: { type: "array", items: object({ x: num, estimatedS: num }) },
    maxBisectionLevels: nonNegInt,
    maxLevels: nonNegInt,
    worstCaseS: num,
    worstCaseCostUsd: num,
    maxDurationS: num,
    fitsCap: bool,
  },
  ["maxDurationS"],
);

const outputSchema = object({ plan: planSchema, capacity: capacitySchema });

let compiled: ReturnType<Ajv["compile"]> | undefined;
function validator(): ReturnType<Ajv["compile"]> {
  // allErrors: every wrong field at once; verbose: the offending value, for the message.
  compiled ??= new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, strict: true }).compile(outputSchema);
  return compiled;
}

/** `/capacity/points/0/ttftP99Ms` → `capacity.points[0].ttftP99Ms`. */
function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (extra !== undefined) parts.push(extra);
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc === "" ? p : `${acc}.${p}`), "") || "(the whole output)";
}

function describe(e: ErrorObject): string {
  const got = (v: unknown) => (v === undefined ? "nothing" : JSON.stringify(v));
  switch (e.keyword) {
    case "required":
      return `${fieldPath(e.instancePath, (e.params as { missingProperty: string }).missingProperty)} is missing`;
    case "type": {
      const t = (e.params as { type: string | string[] }).type;
      return `${fieldPath(e.instancePath)} must be ${(Array.isArray(t) ? t : String(t).split(",")).join(" or ")}, got ${got(e.data)}`;
    }
    case "enum":
      return `${fieldPath(e.instancePath)} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}, got ${got(e.data)}`;
    default:
      return `${fieldPath(e.instancePath)} ${e.message ?? "is invalid"}, got ${got(e.data)}`;
  }
}

/**
 * The wrong fields of a parsed `{plan, capacity}` object, each naming its path, the expected type and the value
 * found; empty when it is well-formed. An `anyOf` failing adds its branches' errors too: those are summarised as
 * the field matching none of its forms, once per field.
 */
export function capacityOutputProblems(o: unknown): string[] {
  const validate = validator();
  if (validate(o)) return [];
  const errors = validate.errors ?? [];
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === "anyOf").map((e) => e.instancePath));
  const problems: string[] = [];
  for (const e of errors) {
    if (e.keyword === "anyOf") {
      // Said precisely by a deeper error when the value had the object's form with a wrong field inside.
      if (errors.some((d) => d.keyword !== "anyOf" && d.instancePath.startsWith(`${e.instancePath}/`))) continue;
      problems.push(`${fieldPath(e.instancePath)} matches none of its forms (e.g. null or an object of the documented fields), got ${JSON.stringify(e.data)}`);
      continue;
    }
    // A branch of a failed anyOf: said once by the anyOf line above (unless it is deeper inside an object branch).
    if ([...anyOfPaths].some((p) => e.instancePath === p)) continue;
    problems.push(describe(e));
  }
  return [...new Set(problems)];
}

/** The typed output, old files' missing `resolution` / `provenance` as null (unknown). Throws naming each wrong field. */
export function validateCapacityOutput(o: unknown, source: string): { plan: CapacityPlan; capacity: CapacitySummary } {
  const problems = capacityOutputProblems(o);
  if (problems.length > 0) {
    throw new Error(
      `${source} is not a capacity result:\n${problems.map((p) => `  - ${p}`).join("\n")}\n` +
        "Fix: it must be the --json output of scripts/bench-capacity.ts ({plan, capacity}); re-run the search, or correct the named fields.",
    );
  }
  const typed = o as { plan: CapacityPlan; capacity: Omit<CapacitySummary, "resolution" | "provenance"> & Partial<Pick<CapacitySummary, "resolution" | "provenance">> };
  return { plan: typed.plan, capacity: { ...typed.capacity, resolution: typed.capacity.resolution ?? null, provenance: typed.capacity.provenance ?? null } };
}
