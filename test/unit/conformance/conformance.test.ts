/**
 * Conformance against the REAL parsers of the pinned releases (issue #18): the argvs the project renders for
 * SGLang and its router go through `ServerArgs` / `parse_router_args` of the sglang and sglang-router wheels
 * (PyPI, pinned by version and sha256, cached under ~/.cache/hgx-conformance by scripts/conformance/fetch.sh).
 * No skip: when the venv cannot be built (no network on a cold cache, a pin missing), this file FAILS.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROUTER_POLICY_NAMES } from "../../../components/router/routerPlan";
import {
  checkVariants,
  conformancePython,
  conformanceVariants,
  formatReport,
  pinnedVersions,
  releaseChoices,
  REPO_ROOT,
  type ConformanceReport,
  type ConformanceVariant,
} from "../../../scripts/conformance/variants";

const versions = pinnedVersions();
let python = "";
let variants: ConformanceVariant[] = [];
let report: ConformanceReport;

beforeAll(() => {
  python = conformancePython(versions, (line) => console.log(line));
  variants = conformanceVariants();
  report = checkVariants(python, variants);
  console.log(formatReport(report));
}, 900_000);

describe(`conformance with sglang ${versions.sglang} and sglang-router ${versions.router}`, () => {
  it("checks the releases the stack deploys, with the GPU stack stubbed and nothing else", () => {
    expect(report.versions).toEqual({ sglang: versions.sglang, "sglang-router": versions.router });
    // The stand-ins are the ones stubs.py documents; torch & co. are never imported for real.
    expect(report.stubbed).toEqual(expect.arrayContaining(["torch", "triton", "transformers"]));
    expect(report.stubbed.every((m) => !["pydantic", "sglang", "sglang_router", "openai"].includes(m))).toBe(true);
  });

  it("every rendered variant (presets x API key x MTP, worker behind the router, router for 2-3 replicas) conforms", () => {
    expect(report.results.map((r) => r.name)).toEqual(variants.map((v) => v.name));
    expect(variants.filter((v) => v.component === "router").length).toBeGreaterThanOrEqual(4);
    const failed = report.results.filter((r) => !r.ok);
    expect(failed.map((r) => `${r.component} ${r.name}: ${r.problems.join("; ")}`)).toEqual([]);
  });

  it("the checked-in value lists are exactly the pinned wheel's (regenerate them when bumping the image)", () => {
    const checkedIn = JSON.parse(readFileSync(join(REPO_ROOT, "components/serving/sglangChoices.generated.json"), "utf8")) as unknown;
    // Every router policy the project offers is one the covered router release accepts.
    expect((checkedIn as { routerPolicies: string[] }).routerPolicies).toEqual(expect.arrayContaining([...ROUTER_POLICY_NAMES]));
    expect(checkedIn, "components/serving/sglangChoices.generated.json differs from the pinned wheel: run bash scripts/conformance/regenerate-choices.sh").toEqual(
      releaseChoices(python),
    );
  });

  it("refuses a wrong flag, a wrong choice, a deprecated flag, a misread value and a broken rule, naming the component and its version", () => {
    const b200 = variants.find((v) => v.name === "sglang b200 MTP on")!;
    const router = variants.find((v) => v.name === "router 2 replicas")!;
    const swap = (argv: readonly string[], from: string, to: readonly string[]): string[] => {
      const i = argv.indexOf(from);
      expect(i, `${from} in ${argv.join(" ")}`).toBeGreaterThanOrEqual(0);
      return [...argv.slice(0, i), ...to, ...argv.slice(i + 2)];
    };
    const bad: ConformanceVariant[] = [
      { ...b200, name: "wrong flag", argv: swap(b200.argv, "--tp-size", ["--tp-sise", "8"]) },
      { ...b200, name: "wrong choice", argv: swap(b200.argv, "--reasoning-parser", ["--reasoning-parser", "nano_v3"]) },
      // What the project rendered before this fix: 0.5.14 warns that the alias is deprecated.
      { ...b200, name: "deprecated flag", argv: swap(b200.argv, "--mamba-radix-cache-strategy", ["--mamba-scheduler-strategy", "extra_buffer"]) },
      { ...b200, name: "misread value", expected: { ...b200.expected, "--tp-size": 4 } },
      {
        name: "broken rule",
        component: "sglang",
        argv: swap(b200.argv, "--mamba-radix-cache-strategy", ["--mamba-radix-cache-strategy", "no_buffer", "--disable-overlap-schedule"]),
        expected: { ...b200.expected, "--mamba-radix-cache-strategy": "no_buffer" },
      },
      { ...router, name: "router wrong flag", argv: swap(router.argv, "--policy", ["--policy-name", "cache_aware"]) },
      { ...router, name: "router wrong choice", argv: swap(router.argv, "--policy", ["--policy", "least_loaded"]) },
      { ...router, name: "router misread value", expected: { ...router.expected, worker_urls: ["http://127.0.0.1:8000"] } },
    ];
    const verdicts = checkVariants(python, bad).results;
    const byName = Object.fromEntries(verdicts.map((v) => [v.name, `${v.ok ? "ok" : "refused"} by ${v.component}: ${v.problems.join("; ")}`]));
    const sglang = `refused by sglang ${versions.sglang}: `;
    const routerBy = `refused by sglang-router ${versions.router}: `;
    expect(byName["wrong flag"]).toMatch(new RegExp(`^${sglang}argparse: .*unrecognized arguments: --tp-sise`));
    expect(byName["wrong choice"]).toMatch(new RegExp(`^${sglang}argparse: .*--reasoning-parser: invalid choice: 'nano_v3'`));
    expect(byName["deprecated flag"]).toMatch(new RegExp(`^${sglang}deprecation warning: '--mamba-scheduler-strategy' is deprecated.*--mamba-radix-cache-strategy`));
    expect(byName["misread value"]).toMatch(new RegExp(`^${sglang}--tp-size \\(tp_size\\): the project meant 4, the parser read 8`));
    expect(byName["broken rule"]).toMatch(new RegExp(`^${sglang}ServerArgs rule: AssertionError: no_buffer do not support trtllm_mha`));
    expect(byName["router wrong flag"]).toMatch(new RegExp(`^${routerBy}argparse: .*unrecognized arguments: --policy-name`));
    expect(byName["router wrong choice"]).toMatch(new RegExp(`^${routerBy}argparse: .*invalid choice: 'least_loaded'`));
    expect(byName["router misread value"]).toMatch(new RegExp(`^${routerBy}worker_urls: the project meant`));
  }, 300_000);
});
