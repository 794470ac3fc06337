/**
 * The log texts bootLog.ts reads, the cache variables compileCache.ts sets and the metric names idle.ts reads are the
 * pinned releases' own: each
 * cited literal occurs at its cited file:line in the SGLang wheel the conformance suite caches (scripts/conformance/
 * fetch.sh, the same venv conformance.test.ts uses; like it, this file FAILS rather than skips without the venv).
 * Bumping the image moves the lines: update the citations from the new release's source.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BOOT_LOG_SOURCES, parseBootLogLine } from "../../../components/serving/bootLog";
import { COMPILE_CACHE_SOURCES } from "../../../components/serving/compileCache";
import { ACTIVITY_COUNTERS, IN_FLIGHT_GAUGES } from "../../../components/ops/idle";
import { conformancePython, pinnedVersions } from "../../../scripts/conformance/variants";

const versions = pinnedVersions();
let sitePackages = "";

beforeAll(() => {
  const python = conformancePython(versions);
  // purelib, without importing sglang (which would need the GPU stack).
  sitePackages = execFileSync(python, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], { encoding: "utf8", timeout: 60_000 }).trim();
}, 900_000);

/** Where `literal` occurs in `file` (1-based lines), or [] when the file is missing. */
function linesOf(file: string, literal: string): number[] {
  const path = join(sitePackages, file);
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .flatMap((text, i) => (text.includes(literal) ? [i + 1] : []));
}

describe(`boot log texts of sglang ${versions.sglang}`, () => {
  it("every marker's literal occurs at its cited file:line", () => {
    const wrong = BOOT_LOG_SOURCES.filter((s) => !linesOf(s.file, s.literal).includes(s.line)).map(
      (s) => `${s.marker}: "${s.literal}" not at ${s.file}:${s.line} (found at ${linesOf(s.file, s.literal).join(", ") || "no line"})`,
    );
    expect(wrong).toEqual([]);
  });

  it("the parser recognises each literal as its marker once the f-string fields are filled as SGLang fills them", () => {
    const filled = (literal: string): string => literal.replace("{capture_name}", "target decode").replace("{graph_backend[self.device]}", "CUDA graph");
    const misread = BOOT_LOG_SOURCES.filter((s) => parseBootLogLine(`[2026-12-07 23:30:00 TP0] ${filled(s.literal)}x`)?.marker !== s.marker).map((s) => s.marker);
    expect(misread).toEqual([]);
  });

  it("the CUDA device's graph word is 'CUDA graph' (what the capture pattern expects)", () => {
    expect(linesOf("sglang/srt/model_executor/model_runner.py", '"cuda": "CUDA graph"').length).toBeGreaterThan(0);
  });
});

describe(`compile cache variables of sglang ${versions.sglang}`, () => {
  it("every variable compileCache.ts sets is read or set at its cited file:line", () => {
    const wrong = COMPILE_CACHE_SOURCES.filter((s) => !linesOf(s.file, s.literal).includes(s.line)).map(
      (s) => `${s.variable}: '${s.literal}' not at ${s.file}:${s.line} (found at ${linesOf(s.file, s.literal).join(", ") || "no line"})`,
    );
    expect(wrong).toEqual([]);
  });

  it("SGLang still forces DeepGEMM's DG_JIT_CACHE_DIR from SGLANG_DG_CACHE_DIR (so setting the latter is enough)", () => {
    expect(linesOf("sglang/srt/layers/deep_gemm_wrapper/compile_utils.py", 'os.environ["DG_JIT_CACHE_DIR"] = os.getenv(')).toEqual([38]);
  });
});

describe(`metric names the idle decision reads, in sglang ${versions.sglang} and sglang-router ${versions.router}`, () => {
  it("SGLang's counters and gauges are declared by its metrics collector; the router's are in its binary", () => {
    const collector = readFileSync(join(sitePackages, "sglang/srt/observability/metrics_collector.py"), "utf8");
    const router = readFileSync(join(sitePackages, "sglang_router/sglang_router_rs.abi3.so")).toString("latin1");
    const missing = [...ACTIVITY_COUNTERS, ...IN_FLIGHT_GAUGES].filter((name) =>
      name.startsWith("sglang:") ? !collector.includes(`name="${name}"`) : !router.includes(name),
    );
    expect(missing).toEqual([]);
  });
});
