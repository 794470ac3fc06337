import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SEED_BASELINE } from "../../../components/benchmark/baseline";
import { parsePromoteArgs, runPromoteCheck } from "../../../components/ops/promoteCli";
import {
  defaultThresholds,
  evaluatePromotion,
  formatPromotionReport,
  locateMetrics,
  overrideThresholds,
  parseThresholdsDocument,
} from "../../../components/ops/promotion";
import { normalizeOutputs, readStackOutputsViaCli } from "../../../components/ops/stackOutputs";

const repoRoot = path.resolve(__dirname, "..", "..", "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "promote-check-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Metrics shaped like the Benchmark component's `metrics` output (BenchmarkSummary). */
function metrics(over: Partial<Record<string, unknown>> = {}) {
  return {
    completed: 512,
    failed: 0,
    durationS: 425.6,
    totalInputTokens: 4_194_304,
    totalOutputTokens: 524_288,
    requestThroughput: 1.2,
    outputThroughput: 1250.4,
    totalTokenThroughput: 11210.7,
    ttft: { mean: 1790, median: 1500, p99: 4900, percentiles: { "99": 4900 } },
    tpot: { mean: 23.5, median: 23, p99: 25.5, percentiles: {} },
    itl: { mean: 23.8, median: 22, p99: 46, percentiles: {} },
    format: "vllm",
    notes: [],
    ...over,
  };
}
const passingOutputs = { endpoint: "http://10.0.0.1:8000", benchmark: { metrics: metrics(), passed: true } };
const failingOutputs = {
  endpoint: "http://10.0.0.1:8000",
  benchmark: { metrics: metrics({ outputThroughput: 900.5, ttft: { mean: 1800, median: 1500, p99: 6120, percentiles: {} }, failed: 3 }) },
};
function writeJson(name: string, doc: unknown): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, JSON.stringify(doc));
  return file;
}

describe("default thresholds", () => {
  it("derive from the seed baseline with a 10% tolerance", () => {
    const t = Object.fromEntries(defaultThresholds().map((x) => [x.name, x]));
    expect(t["min-output-throughput"]).toMatchObject({ metric: "outputThroughput", op: "min", value: 1108.8 });
    expect(t["min-total-throughput"].value).toBeCloseTo(SEED_BASELINE.totalTokenThroughput * 0.9, 2);
    expect(t["max-ttft-p99-ms"]).toMatchObject({ metric: "ttft.p99", op: "max", value: 5508.8 });
    expect(t["max-failed-requests"]).toMatchObject({ op: "max", value: 0 });
    expect(defaultThresholds(0).find((x) => x.name === "max-ttft-mean-ms")!.value).toBe(1825);
    expect(() => defaultThresholds(1.5)).toThrow(/tolerance must be a fraction.*--tolerance 0\.1/);
  });
  it("accept overrides by name and refuse unknown names, listing the known ones", () => {
    const t = overrideThresholds(defaultThresholds(), { "max-ttft-p99-ms": 7000 });
    expect(t.find((x) => x.name === "max-ttft-p99-ms")!.value).toBe(7000);
    expect(() => overrideThresholds(defaultThresholds(), { "max-ttft-p90-ms": 1 })).toThrow(/unknown threshold 'max-ttft-p90-ms'.*min-output-throughput/);
  });
  it("read a thresholds document in either form", () => {
    const relaxed = parseThresholdsDocument({ tolerance: 0.5, thresholds: { "max-failed-requests": 2 } });
    expect(relaxed.find((x) => x.name === "min-output-throughput")!.value).toBe(616);
    expect(relaxed.find((x) => x.name === "max-failed-requests")!.value).toBe(2);
    const custom = parseThresholdsDocument([{ name: "min-rps", metric: "requestThroughput", op: "min", value: 1 }]);
    expect(custom).toEqual([{ name: "min-rps", metric: "requestThroughput", op: "min", value: 1, unit: undefined }]);
    expect(() => parseThresholdsDocument([{ name: "x", metric: "a", op: ">=", value: "1" }], "t.json")).toThrow(/t\.json\[0\]: op must be "min" or "max".*value must be a number/);
    expect(() => parseThresholdsDocument({ tolerence: 0.1 })).toThrow(/unknown key 'tolerence'/);
  });
});

describe("evaluatePromotion", () => {
  it("passes outputs that meet every threshold", () => {
    const r = evaluatePromotion(passingOutputs, defaultThresholds());
    expect(r.passed).toBe(true);
    expect(r.failures).toEqual([]);
    expect(r.metricsPath).toBe("benchmark.metrics");
    expect(formatPromotionReport(r, "stack acme/hgx-inference/dev")).toMatch(/^promotion check PASSED: stack acme\/hgx-inference\/dev meets all 7 thresholds/);
  });
  it("fails outputs that miss thresholds and names each with measured vs required", () => {
    const r = evaluatePromotion(failingOutputs, defaultThresholds());
    expect(r.passed).toBe(false);
    expect(r.failures.map((f) => f.threshold.name)).toEqual(["min-output-throughput", "max-ttft-p99-ms", "max-failed-requests"]);
    const text = formatPromotionReport(r, "stack dev");
    expect(text).toMatch(/misses 3 of 7 thresholds/);
    expect(text).toContain("FAIL min-output-throughput: measured 900.50 tok/s, required >= 1108.80 tok/s (outputThroughput)");
    expect(text).toContain("FAIL max-ttft-p99-ms: measured 6120 ms, required <= 5508.80 ms (ttft.p99)");
    expect(text).toContain("FAIL max-failed-requests: measured 3 requests, required <= 0 requests (failed)");
    expect(text.indexOf("FAIL")).toBeLessThan(text.indexOf("PASS"));
  });
  it("counts a missing or non-numeric figure as a failure", () => {
    const m = metrics();
    delete (m as Record<string, unknown>).itl;
    const r = evaluatePromotion({ metrics: { ...m, outputThroughput: null } }, defaultThresholds());
    expect(r.failures.map((f) => [f.threshold.name, f.measured])).toEqual([
      ["min-output-throughput", undefined],
      ["max-itl-mean-ms", undefined],
    ]);
  });
  it("refuses negative and non-finite figures instead of letting them pass a maximum, naming the value", () => {
    const broken = metrics({ failed: -1, ttft: { mean: -5, median: 1500, p99: "Infinity", percentiles: {} }, tpot: { mean: 23, median: 23, p99: -0.5, percentiles: {} } });
    const r = evaluatePromotion({ metrics: broken }, defaultThresholds());
    expect(r.passed).toBe(false);
    expect(r.failures.map((f) => [f.threshold.name, f.refused])).toEqual([
      ["max-ttft-mean-ms", "-5 is negative"],
      ["max-ttft-p99-ms", '"Infinity" is not a finite number'],
      ["max-tpot-p99-ms", "-0.5 is negative"],
      ["max-failed-requests", "-1 is negative"],
    ]);
    const text = formatPromotionReport(r, "stack dev");
    expect(text).toContain("FAIL max-failed-requests: refused (-1 is negative), required <= 0 requests (failed)");
    expect(text).toContain("FAIL max-ttft-mean-ms: refused (-5 is negative), required <= 2007.50 ms (ttft.mean)");
  });
  it("does not pass latency maxima on a run where nothing completed (its latencies are 0 by convention)", () => {
    const empty = metrics({ completed: 0, failed: 512, outputThroughput: 0, totalTokenThroughput: 0, ttft: { mean: 0, median: 0, p99: 0, percentiles: {} } });
    const r = evaluatePromotion({ metrics: empty }, defaultThresholds());
    const refused = Object.fromEntries(r.failures.map((f) => [f.threshold.name, f.refused ?? `measured ${f.measured}`]));
    expect(refused["max-ttft-p99-ms"]).toBe("not measured: no request completed");
    expect(refused["max-itl-mean-ms"]).toBe("not measured: no request completed");
    expect(refused["max-failed-requests"]).toBe("measured 512");
    expect(r.results.filter((x) => x.passed)).toEqual([]);
  });
  it("finds metrics at the top level, as a JSON string, or at an explicit path; errors list the outputs", () => {
    expect(locateMetrics(metrics()).path).toBe("");
    expect(locateMetrics({ metrics: JSON.stringify(metrics()) }).path).toBe("metrics");
    expect(locateMetrics({ replicas: [{ m: metrics() }] }, "replicas.0.m").metrics.outputThroughput).toBe(1250.4);
    expect(() => locateMetrics({ endpoint: "x", hostIp: "y" })).toThrow(/no benchmark metrics .*top-level outputs: endpoint, hostIp.*benchmarkEnabled=true/);
    expect(() => evaluatePromotion(passingOutputs, [])).toThrow(/no thresholds/);
  });
  it("unwraps Automation API output maps", () => {
    expect(normalizeOutputs({ a: { value: 1, secret: false }, b: { value: "x", secret: true } }, "t")).toEqual({ a: 1, b: "x" });
    expect(normalizeOutputs({ a: 1 }, "t")).toEqual({ a: 1 });
    expect(() => normalizeOutputs([1], "t")).toThrow(/expected a JSON object/);
  });
});

describe("promote-check CLI (in process)", () => {
  const run = async (argv: string[], readStackOutputs?: (q: { stack: string }) => Promise<Record<string, unknown>>) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runPromoteCheck(argv, { out: (l) => out.push(l), err: (l) => err.push(l), readStackOutputs });
    return { code, out: out.join("\n"), err: err.join("\n") };
  };

  it("exits 0 for passing outputs from a file", async () => {
    const r = await run(["--outputs-file", writeJson("pass.json", passingOutputs)]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/PASSED/);
  });
  it("exits 1 for failing outputs and prints every failing threshold", async () => {
    const r = await run(["--outputs-file", writeJson("fail.json", failingOutputs)]);
    expect(r.code).toBe(1);
    expect(r.out.match(/^ {2}FAIL /gm)).toHaveLength(3);
    expect(r.out).toMatch(/FAIL max-ttft-p99-ms: measured 6120 ms/);
  });
  it("applies flag overrides and tolerance", async () => {
    const file = writeJson("fail2.json", failingOutputs);
    const r = await run(["--outputs-file", file, "--min-output-throughput", "900", "--threshold", "max-ttft-p99-ms=6200", "--max-failed-requests", "3"]);
    expect(r.code).toBe(0);
    expect(parsePromoteArgs(["--stack", "s", "--tolerance", "0"]).thresholds.find((t) => t.name === "max-ttft-p99-ms")!.value).toBe(5008);
  });
  it("reads a thresholds file and prints JSON on request", async () => {
    const th = writeJson("th.json", { tolerance: 0.1, thresholds: { "max-ttft-p99-ms": 6500, "min-output-throughput": 800, "max-failed-requests": 5 } });
    const r = await run(["--outputs-file", writeJson("fail3.json", failingOutputs), "--thresholds-file", th, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ passed: true, source: expect.stringContaining("fail3.json") });
  });
  it("reads a stack through the injected reader", async () => {
    const seen: string[] = [];
    const r = await run(["--stack", "acme/hgx-inference/dev"], async (q) => {
      seen.push(q.stack);
      return failingOutputs;
    });
    expect(seen).toEqual(["acme/hgx-inference/dev"]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/stack acme\/hgx-inference\/dev misses 3/);
  });
  it("exits 2 with a named problem on bad usage", async () => {
    expect((await run([])).err).toMatch(/exactly one of --stack .* or --outputs-file/);
    expect((await run(["--stack", "a", "--outputs-file", "b"])).code).toBe(2);
    const bad = await run(["--outputs-file", "x.json", "--max-ttft-p99-ms", "fast"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--max-ttft-p99-ms must be a number, got 'fast'/);
    const missing = await run(["--outputs-file", path.join(tmp, "nope.json")]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read outputs file .*Fix: save it with `pulumi stack output --json/);
    expect((await run(["--outputs-file", "x", "--bogus"])).code).toBe(2);
  });
});

describe("promote-check as a process", () => {
  const fakeBin = path.join(tmp, "bin");
  fs.mkdirSync(fakeBin, { recursive: true });
  // A stand-in `pulumi` that records its arguments and prints the failing outputs.
  fs.writeFileSync(
    path.join(fakeBin, "pulumi"),
    `#!/bin/sh\necho "$@" > "${path.join(tmp, "pulumi-args.txt")}"\ncat "${writeJson("cli-outputs.json", failingOutputs)}"\n`,
    { mode: 0o755 },
  );

  const script = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(repoRoot, "node_modules/tsx/dist/cli.mjs"), path.join(repoRoot, "scripts/promote-check.ts"), ...args],
        { cwd: repoRoot, env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });

  it("exits 1 on a failing file and 0 on a passing one", async () => {
    const fail = await script(["--outputs-file", writeJson("p-fail.json", failingOutputs)]);
    expect(fail.code).toBe(1);
    expect(fail.stdout).toMatch(/FAIL min-output-throughput/);
    const pass = await script(["--outputs-file", writeJson("p-pass.json", passingOutputs)]);
    expect(pass.code).toBe(0);
  }, 60_000);

  it("reads `pulumi stack output --json --stack <name>` through the CLI", async () => {
    const outputs = await readStackOutputsViaCli({ stack: "acme/hgx-inference/dev", env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` } });
    expect(outputs).toEqual(failingOutputs);
    expect(fs.readFileSync(path.join(tmp, "pulumi-args.txt"), "utf8").trim()).toBe("stack output --json --non-interactive --stack acme/hgx-inference/dev");
    await expect(readStackOutputsViaCli({ stack: "x", pulumiBin: path.join(tmp, "no-such-pulumi") })).rejects.toThrow(/was not found on PATH.*--outputs-file/);
  });
});
