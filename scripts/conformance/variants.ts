/**
 * The conformance suite's TypeScript half: renders what the project really executes for SGLang and its
 * router (every preset, with and without API key, MTP on and off, a worker behind the router, the router for
 * 2 and 3 replicas) and states what each argv MEANS as the parsed fields the real parsers must read
 * (`expected`, keyed by argparse dest). `check.py verify` (run in the cached venv of the pinned wheels)
 * gives the verdicts.
 *
 * The argv is taken from the container's own command: the `sh -c` wrappers (API key, worker URLs) are run
 * with a stand-in `python` first on PATH that prints its argv, so what is checked is what `exec` would
 * pass, after the shell's word splitting and quoting.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONFIG_SCHEMA } from "../../components/config";
import { routerPlanInputFor } from "../../components/router/sglangRouter";
import { planRouter, ROUTER_API_KEY_ENV, WORKER_URLS_ENV, type RouterPlanInput } from "../../components/router/routerPlan";
import { API_KEY_ENV } from "../../components/serving/sglang/engine";
import { planServing, type ServingPlanInput } from "../../components/serving/servingPlan";
import { currentValueOf, FLAG_TABLE, type SglangFlagOverrides, type SglangFlags, type SglangPresetName } from "../../components/serving/sglang/args";

export const REPO_ROOT = join(__dirname, "..", "..");
export const CONFORMANCE_DIR = __dirname;

/** A sample key: the checks must see the flag and its value, never a real secret. */
const SAMPLE_API_KEY = "sk-conformance-sample";
const SAMPLE_WORKER_URLS = ["http://127.0.0.1:8000", "http://10.0.0.12:8000", "http://10.0.0.13:8000"];

export interface ConformanceVariant {
  readonly name: string;
  readonly component: "sglang" | "router";
  readonly argv: readonly string[];
  /** Parsed field -> the value the project meant. */
  readonly expected: Readonly<Record<string, unknown>>;
}

/** The releases the suite checks, from the stack's own defaults. */
export interface PinnedVersions {
  /** From the default `sglangImage` tag (`lmsysorg/sglang:v0.5.14` -> 0.5.14). */
  readonly sglang: string;
  /** The router wheel the local stack's router image pins (scripts/router-image/requirements.txt). */
  readonly router: string;
}

export function pinnedVersions(root: string = REPO_ROOT): PinnedVersions {
  const image = CONFIG_SCHEMA.sglangImage.default;
  const sglang = /:v(\d+\.\d+\.\d+(?:\.post\d+)?)(?:[-@]|$)/.exec(image)?.[1];
  if (sglang === undefined) throw new Error(`sglangImage default "${image}" has no release tag vX.Y.Z; the conformance suite cannot tell which SGLang wheel to check`);
  const requirements = readFileSync(join(root, "scripts", "router-image", "requirements.txt"), "utf8");
  const router = /^sglang-router==(\S+)/m.exec(requirements)?.[1];
  if (router === undefined) throw new Error("scripts/router-image/requirements.txt pins no sglang-router==X; the conformance suite cannot tell which router wheel to check");
  return { sglang, router };
}

/** Runs a container command with a stand-in `python` that prints its argv; returns [module, ...args]. */
export function execArgvOf(command: readonly string[], env: Readonly<Record<string, string>>): { module: string; argv: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "hgx-conformance-"));
  try {
    const fake = join(dir, "python");
    writeFileSync(fake, "#!/bin/sh\nprintf '%s\\0' \"$@\"\n");
    chmodSync(fake, 0o755);
    const out = execFileSync(command[0]!, command.slice(1), { env: { PATH: `${dir}:/usr/bin:/bin`, ...env }, encoding: "utf8", timeout: 10_000 });
    const words = out.split("\0").slice(0, -1);
    if (words[0] !== "-m" || words[1] === undefined) throw new Error(`container command does not run "python -m <module>": ${JSON.stringify(words.slice(0, 3))}`);
    return { module: words[1], argv: words.slice(2) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the typed flags mean, keyed by flag (the checker asks the real parser which field each flag fills).
 * A deprecated value means the value the release rewrites it to.
 */
export function sglangExpected(flags: SglangFlags, apiKey: boolean): Record<string, unknown> {
  const expected: Record<string, unknown> = {};
  for (const spec of FLAG_TABLE) {
    const value = flags[spec.key];
    if (value === undefined) continue;
    expected[spec.flag] = typeof value === "string" ? currentValueOf(spec.flag, value) : value;
  }
  if (apiKey) expected["--api-key"] = SAMPLE_API_KEY;
  return expected;
}

function servingInput(preset: SglangPresetName, flagOverrides: SglangFlagOverrides, apiKey: boolean, publish: boolean): ServingPlanInput {
  return {
    image: CONFIG_SCHEMA.sglangImage.default,
    preset,
    flagOverrides,
    port: 8000,
    publish,
    gpuCount: 8,
    cacheVolumeName: "hgx-conformance-hf-cache",
    containerName: "hgx-conformance-sglang",
    apiKey,
    hfToken: false,
    project: "hgx-inference",
    stack: "conformance",
  };
}

const MTP_OFF: SglangFlagOverrides = {
  speculativeAlgorithm: undefined,
  speculativeNumSteps: undefined,
  speculativeEagleTopk: undefined,
  speculativeNumDraftTokens: undefined,
};
const MTP_ON: SglangFlagOverrides = { speculativeAlgorithm: "NEXTN", speculativeNumSteps: 3, speculativeEagleTopk: 1, speculativeNumDraftTokens: 4 };

function sglangVariant(name: string, input: ServingPlanInput): ConformanceVariant {
  const { plan, errors } = planServing(input);
  if (plan === undefined) throw new Error(`variant ${name}: the project's own validation refused it: ${errors.join("; ")}`);
  const run = execArgvOf(plan.spec.command, input.apiKey ? { [API_KEY_ENV]: SAMPLE_API_KEY } : {});
  if (run.module !== "sglang.launch_server") throw new Error(`variant ${name}: runs ${run.module}, not sglang.launch_server`);
  return { name, component: "sglang", argv: run.argv, expected: sglangExpected(plan.flags, input.apiKey) };
}

function routerVariant(name: string, replicas: number, apiKey: boolean, publish: boolean, policy: RouterPlanInput["policy"]): ConformanceVariant {
  const input = routerPlanInputFor(
    { image: CONFIG_SCHEMA.sglangImage.default, servedModelName: "qwen", apiKey, publish, policy },
    { project: "hgx-inference", stack: "conformance" },
  );
  const { plan, errors } = planRouter(input);
  if (plan === undefined) throw new Error(`variant ${name}: the project's own validation refused it: ${errors.join("; ")}`);
  const workers = SAMPLE_WORKER_URLS.slice(0, replicas);
  const env: Record<string, string> = { [WORKER_URLS_ENV]: workers.join(" ") };
  if (apiKey) env[ROUTER_API_KEY_ENV] = SAMPLE_API_KEY;
  const run = execArgvOf(plan.spec.command, env);
  if (run.module !== "sglang_router.launch_router") throw new Error(`variant ${name}: runs ${run.module}, not sglang_router.launch_router`);
  const bind = input.publish ? "0.0.0.0" : "127.0.0.1";
  return {
    name,
    component: "router",
    argv: run.argv,
    expected: {
      host: bind,
      port: input.port,
      policy: input.policy,
      prometheus_host: bind,
      prometheus_port: input.metricsPort,
      worker_urls: workers,
      health_check_endpoint: "/health",
      health_check_interval_secs: input.healthCheckIntervalSeconds,
      worker_startup_timeout_secs: input.workerStartupTimeoutSeconds,
      request_timeout_secs: input.requestTimeoutSeconds,
      api_key: apiKey ? SAMPLE_API_KEY : null,
      pd_disaggregation: false,
    },
  };
}

/** Every variant the suite checks. */
export function conformanceVariants(): ConformanceVariant[] {
  const variants: ConformanceVariant[] = [];
  for (const preset of ["seed", "b200"] as const) {
    for (const mtp of [false, true]) {
      for (const apiKey of [false, true]) {
        const name = `sglang ${preset} MTP ${mtp ? "on" : "off"}${apiKey ? " + API key" : ""}`;
        variants.push(sglangVariant(name, servingInput(preset, mtp ? MTP_ON : MTP_OFF, apiKey, false)));
      }
    }
  }
  // replicas > 1: each worker is published for the router (on other hosts), with the key the router forwards.
  variants.push(sglangVariant("sglang b200 worker behind the router + API key", servingInput("b200", {}, true, true)));
  for (const replicas of [2, 3]) {
    for (const apiKey of [false, true]) {
      variants.push(routerVariant(`router ${replicas} replicas${apiKey ? " + API key" : ""}`, replicas, apiKey, false, "cache_aware"));
    }
  }
  variants.push(routerVariant("router 2 replicas, published, round_robin + API key", 2, true, true, "round_robin"));
  variants.push(routerVariant("router 2 replicas, power_of_two", 2, false, false, "power_of_two"));
  return variants;
}

export interface Verdict {
  readonly name: string;
  /** "sglang 0.5.14" / "sglang-router 0.3.2": the real component that judged. */
  readonly component: string;
  readonly ok: boolean;
  readonly problems: string[];
  readonly notes: string[];
}
export interface ConformanceReport {
  readonly versions: { readonly sglang: string; readonly "sglang-router": string };
  readonly stubbed: string[];
  readonly results: Verdict[];
}

/** Builds (once, cached) the venv of the pinned wheels; returns its python. Throws with the fix when it cannot. */
export function conformancePython(versions: PinnedVersions, log: (line: string) => void = () => undefined): string {
  const out = execFileSync("bash", [join(CONFORMANCE_DIR, "fetch.sh"), versions.sglang, versions.router], {
    encoding: "utf8",
    timeout: 900_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = out.trim().split("\n");
  for (const line of lines.slice(0, -1)) log(line);
  return lines[lines.length - 1]!;
}

/** Runs check.py; a crash (an import the stubs do not cover in another release) surfaces its last lines, not a dump. */
function runChecker(python: string, args: readonly string[]): string {
  try {
    return execFileSync(python, ["-W", "ignore", join(CONFORMANCE_DIR, "check.py"), ...args], {
      encoding: "utf8",
      timeout: 300_000,
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim().split("\n").slice(-6).join("\n");
    throw new Error(`scripts/conformance/check.py ${args[0]} failed in ${python}:\n${stderr}\nFix: a module the release imports may need a stand-in (scripts/conformance/stubs.py) or a real pin (deps.txt, then lock.sh)`);
  }
}

/** Runs the real parsers on `variants`. */
export function checkVariants(python: string, variants: readonly ConformanceVariant[]): ConformanceReport {
  const dir = mkdtempSync(join(tmpdir(), "hgx-conformance-"));
  try {
    const file = join(dir, "variants.json");
    writeFileSync(file, JSON.stringify({ variants }, null, 1));
    return JSON.parse(runChecker(python, ["verify", file])) as ConformanceReport;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The value lists of the installed release, as `check.py choices` reads them from the wheel. */
export function releaseChoices(python: string): unknown {
  return JSON.parse(runChecker(python, ["choices"])) as unknown;
}

/** One line per verdict, for logs and the CLI. */
export function formatReport(report: ConformanceReport): string {
  const lines = report.results.map((r) => `${r.ok ? "ok  " : "FAIL"} [${r.component}] ${r.name}${r.problems.length > 0 ? `\n       ${r.problems.join("\n       ")}` : ""}`);
  const failed = report.results.filter((r) => !r.ok).length;
  lines.push(`${report.results.length - failed}/${report.results.length} variants conform (sglang ${report.versions.sglang}, sglang-router ${report.versions["sglang-router"]}; stubbed: ${report.stubbed.join(", ")})`);
  return lines.join("\n");
}
