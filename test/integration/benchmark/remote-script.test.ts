/**
 * The remote runner's script for real, on this machine: `sh` and coreutils `timeout` are real,
 * `docker` is a stand-in on PATH that records its arguments and environment and plays the
 * vllm container (writes the result file into the directory mounted at /results). The first
 * run goes through the Benchmark component (local connection, runner "remote"), so the
 * command text and the secret stdin are exactly what the component stores.
 */
import { STDIN_SCRIPT_COMMAND } from "../../../components/host/connection";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as BenchmarkModule from "../../../components/benchmark/benchmark";
import { renderRemoteBenchCommand, resultFilename } from "../../../components/benchmark/remoteRunner";
import { resolveWorkload } from "../../../components/benchmark/workload";
import { installLocalCommandMocks, type LocalCommandMocks, runScript, settle } from "./localCommandMocks";
import { secretStdinLine } from "../../fixtures/stdinScript";

const API_KEY = "sk-it-remote-52ab90";
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-bench-remote-"));
const binDir = path.join(work, "bin");
const stateDir = path.join(work, "docker-state");
const resultDir = path.join(work, "results");
const hfDir = path.join(work, "hf");
const dockerLog = path.join(work, "docker.log");
const fixturePath = path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json");
const WORKLOAD = resolveWorkload({ numPrompts: 16, maxConcurrency: 4 });

const FAKE_DOCKER = `#!/bin/sh
echo "$*" >> "$FAKE_DOCKER_LOG"
case "$1" in
  rm) exit 0 ;;
  image) [ -f "$FAKE_DOCKER_STATE/pulled" ] && exit 0 || exit 1 ;;
  pull) touch "$FAKE_DOCKER_STATE/pulled"; echo "pulled $2"; exit 0 ;;
  run)
    results=""; file=""; prev=""
    for a in "$@"; do
      case "$prev" in
        -v) case "$a" in *:/results) results="\${a%:/results}" ;; esac ;;
        --result-filename) file="$a" ;;
      esac
      prev="$a"
    done
    if [ "\${OPENAI_API_KEY:-}" = "$FAKE_EXPECTED_KEY" ]; then echo "key-seen=yes" >> "$FAKE_DOCKER_LOG"; else echo "key-seen=no" >> "$FAKE_DOCKER_LOG"; fi
    echo "Starting initial single prompt test run..."
    case "\${FAKE_DOCKER_MODE:-ok}" in
      hang) exec sleep 60 ;;
      fail) echo "Traceback: boom" >&2; exit 3 ;;
    esac
    cp "$FAKE_RESULT" "$results/$file"
    echo "============ Serving Benchmark Result ============"
    exit 0 ;;
esac
echo "fake docker: unexpected $1" >&2
exit 64
`;

function env(mode: "ok" | "hang" | "fail"): NodeJS.ProcessEnv {
  return {
    PATH: `${binDir}:${process.env.PATH ?? ""}`,
    HOME: work,
    FAKE_DOCKER_LOG: dockerLog,
    FAKE_DOCKER_STATE: stateDir,
    FAKE_DOCKER_MODE: mode,
    FAKE_EXPECTED_KEY: API_KEY,
    FAKE_RESULT: fixturePath,
  };
}

function script(over: { timeoutSeconds?: number } = {}): string {
  return renderRemoteBenchCommand({
    port: 8000,
    model: "Qwen/Qwen3.5-397B-A17B",
    servedModelName: "qwen",
    workload: WORKLOAD,
    resultDir,
    hfCacheDir: hfDir,
    apiKeyFromStdin: true,
    ...over,
  });
}

let mocks: LocalCommandMocks;
let bench: BenchmarkModule.Benchmark;

beforeAll(async () => {
  fs.mkdirSync(binDir, { recursive: true });
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(path.join(binDir, "docker"), FAKE_DOCKER, { mode: 0o755 });
  mocks = await installLocalCommandMocks({ stack: "remote-it", baseEnv: env("ok"), timeoutMs: 60_000 });
  const mod: typeof BenchmarkModule = await import("../../../components/benchmark/benchmark");
  bench = new mod.Benchmark("bench", {
    connection: { kind: "local" },
    runner: "remote",
    serverReady: "ready",
    servedModelName: "qwen",
    modelPath: "Qwen/Qwen3.5-397B-A17B",
    apiKey: API_KEY,
    serverSpecHash: "spec-remote-it",
    hourlyPriceUsd: 39.92,
    workload: { numPrompts: 16, maxConcurrency: 4 },
    remoteResultDir: resultDir,
    hfCacheDir: hfDir,
    reportDir: path.join(work, "reports"),
  });
  await settle(bench.passed);
}, 120_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe("remote script through the component", () => {
  it("stores exactly the rendered script and feeds the key on secret stdin", () => {
    const run = mocks.executed[0];
    // The script goes in on stdin behind the short constant command line; the key is its first line.
    expect(run.create).toBe(STDIN_SCRIPT_COMMAND);
    expect(run.secretInputs).toContain("stdin");
    expect(run.stdin).toBe(secretStdinLine(API_KEY) + script());
    expect(run.create).not.toContain(API_KEY);
  });

  it("prints only the result JSON on stdout; the container's console and the pull go to stderr", () => {
    const run = mocks.executed[0];
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(fs.readFileSync(fixturePath, "utf8"));
    expect(run.stderr).toContain("pulling vllm/vllm-openai:v0.18.0");
    expect(run.stderr).toContain("Serving Benchmark Result");
  });

  it("hands the key to the container by name only", () => {
    const log = fs.readFileSync(dockerLog, "utf8");
    expect(log).toContain("key-seen=yes");
    expect(log).not.toContain(API_KEY);
    expect(log).toMatch(/^run --rm --name hgx-benchmark --network host --gpus all --entrypoint vllm .* -e OPENAI_API_KEY vllm\/vllm-openai:v0\.18\.0 bench serve /m);
    expect(log).toContain(`-v ${hfDir}:/root/.cache/huggingface -v ${resultDir}:/results`);
  });

  it("parses the result into the component's outputs", async () => {
    const m = await settle(bench.metrics);
    expect(m.completed).toBe(512);
    expect(m.outputThroughput).toBeCloseTo(1232.53, 2);
    expect(await settle(bench.costPerMillionOutputTokens)).toBeCloseTo(9.0, 1);
  });
});

describe("remote script failure handling", () => {
  it("does not pull again once the image is on the host", async () => {
    fs.writeFileSync(dockerLog, "");
    const r = await runScript(["/bin/sh", "-c"], script(), { env: env("ok"), stdin: secretStdinLine(API_KEY), timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(fs.readFileSync(dockerLog, "utf8")).not.toMatch(/^pull /m);
    expect(r.stderr).not.toContain("pulling");
  });

  it("stops a run that exceeds the timeout, removes the container and says why", async () => {
    fs.writeFileSync(dockerLog, "");
    const started = performance.now();
    const r = await runScript(["/bin/sh", "-c"], script({ timeoutSeconds: 1 }), { env: env("hang"), stdin: secretStdinLine(API_KEY), timeoutMs: 45_000 });
    // Stopped by its own 1 s timeout (exit 124), not before it; were it not, the hang would have
    // lasted until runScript's 45 s kill (no exit code).
    expect(r.code).toBe(124);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("vllm bench serve did not finish within 1 s and was stopped");
    expect(r.stderr).toContain("vllm bench serve failed with exit status 124");
    const calls = fs.readFileSync(dockerLog, "utf8").split("\n");
    const runAt = calls.findIndex((l) => l.startsWith("run "));
    expect(calls.slice(runAt + 1).some((l) => l === "rm -f hgx-benchmark")).toBe(true);
  });

  it("fails with the container's exit status and never prints a stale result", async () => {
    fs.mkdirSync(resultDir, { recursive: true });
    fs.writeFileSync(path.join(resultDir, resultFilename("qwen", WORKLOAD)), '{"completed": 1, "duration": 1, "stale": true}');
    const r = await runScript(["/bin/sh", "-c"], script(), { env: env("fail"), stdin: secretStdinLine(API_KEY), timeoutMs: 30_000 });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Traceback: boom");
    expect(r.stderr).toContain("vllm bench serve failed with exit status 3");
    expect(fs.existsSync(path.join(resultDir, resultFilename("qwen", WORKLOAD)))).toBe(false);
  });
});
