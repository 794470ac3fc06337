/**
 * The remote runner once per level: the two scripts of a level (the fixed run's script with the level's concurrency,
 * prompts, seed and vllm's --goodput), the measure function reading the result through the shared parser, the
 * process executor (a real bash running STDIN_SCRIPT_COMMAND), the ssh arguments, and the CLI's --runner remote flags.
 */
import { describe, expect, it } from "vitest";
import { levelSeeds } from "../../../components/benchmark/capacityNative";
import {
  parseSshDestination,
  processExecutor,
  remoteLevelScripts,
  remoteMeasure,
  sshArgs,
  vllmGoodputArgs,
  vllmLevelArgs,
  type RemoteMeasureOptions,
  type ScriptExecutor,
} from "../../../components/benchmark/capacityRemote";
import { STDIN_SCRIPT_COMMAND } from "../../../components/host/connection";
import { resolveWorkload } from "../../../components/benchmark/workload";
import { parseCapacityArgs, type CapacityCliPlan } from "../../../scripts/bench-capacity";
import { seedResult } from "../../fixtures/benchmark/results";

const LEVEL = (concurrency: number) => ({ concurrency, requestRate: Infinity, burstiness: 1 });
const BASE: Omit<RemoteMeasureOptions, "exec"> = {
  settings: { image: "vllm/vllm-openai:v0.18.0", port: 8000, model: "Qwen/Qwen3.5-397B-A17B", servedModelName: "qwen" },
  workload: resolveWorkload({ numPrompts: 64, maxConcurrency: 32, percentileMetrics: ["ttft", "tpot"], metricPercentiles: [50] }),
  seed: 3,
  slo: { ttftP99Ms: 3000, itlP99Ms: 50, e2elP99Ms: 90000 },
  promptsPerConcurrency: 4,
  levelTimeoutSeconds: 600,
};

/** The value after `flag` in a rendered script (quoted or bare). */
const flag = (script: string, name: string) => new RegExp(`--${name} ('[^']*'|\\S+)`).exec(script)?.[1]?.replace(/^'|'$/g, "");

describe("a level's scripts", () => {
  it("warm-up: one wave at the level with its own seed; measured: the level's prompts, seed, p99 of all four, and --goodput", () => {
    const s = remoteLevelScripts(BASE, LEVEL(8), 2, 600);
    const seeds = levelSeeds(3, 2);
    expect(s.warmup).toBeDefined();
    expect(flag(String(s.warmup), "num-prompts")).toBe("8");
    expect(flag(String(s.warmup), "max-concurrency")).toBe("8");
    expect(flag(String(s.warmup), "seed")).toBe(String(seeds.warmup));
    expect(String(s.warmup)).not.toContain("--goodput");
    expect(flag(s.measured, "num-prompts")).toBe("32");
    expect(flag(s.measured, "max-concurrency")).toBe("8");
    expect(flag(s.measured, "seed")).toBe(String(seeds.measured));
    expect(flag(s.measured, "percentile-metrics")).toBe("ttft,tpot,itl,e2el");
    expect(flag(s.measured, "metric-percentiles")).toBe("50,90,99");
    // vllm's nargs="+" form; ITL has no per-request goodput SLO.
    expect(s.measured).toContain("--goodput ttft:3000 e2el:90000");
    expect(s.measured).not.toContain("--request-rate");
    expect(flag(s.measured, "result-filename")).not.toBe(flag(String(s.warmup), "result-filename"));
    // The same script as the fixed remote run: pull-if-missing, timeout, result file on stdout.
    expect(s.measured).toContain("timeout --kill-after=30 600 docker run --rm --name hgx-benchmark --network host --gpus all --entrypoint vllm");
  });

  it("no warm-up with warmupRequests 0; the API key only as a variable name", () => {
    const s = remoteLevelScripts({ ...BASE, warmupRequests: 0, apiKey: "sk-secret-77" }, LEVEL(4), 0, 60);
    expect(s.warmup).toBeUndefined();
    expect(s.measured).toContain("IFS= read -r OPENAI_API_KEY");
    expect(s.measured).toContain("-e OPENAI_API_KEY");
    expect(s.measured).not.toContain("sk-secret-77");
  });

  it("a finite rate adds --request-rate and --burstiness; no SLO adds no --goodput", () => {
    expect(vllmLevelArgs({ concurrency: 64, requestRate: 2.5, burstiness: 0.5 }, 9)).toEqual(["--seed", "9", "--request-rate", "2.5", "--burstiness", "0.5"]);
    expect(vllmGoodputArgs(undefined)).toEqual([]);
    expect(vllmGoodputArgs({ itlP99Ms: 50 })).toEqual([]);
    expect(vllmGoodputArgs({ tpotP99Ms: 40 })).toEqual(["--goodput", "tpot:40"]);
  });
});

describe("remoteMeasure", () => {
  it("runs the warm-up, then the measured run, and reads its result through the shared parser", async () => {
    const calls: { script: string; first: string; timeoutMs: number }[] = [];
    const result: Record<string, unknown> = { ...seedResult(), num_prompts: 16, completed: 16, failed: 0, total_input_tokens: 16 * 8192, total_output_tokens: 16 * 1024, request_goodput: 1.5 };
    const exec: ScriptExecutor = async (script, first, timeoutMs) => {
      calls.push({ script, first, timeoutMs });
      return `noise on stdout\n${JSON.stringify(result)}\n`;
    };
    const measure = remoteMeasure({ ...BASE, apiKey: "sk-k", exec });
    const m = await measure(LEVEL(4), { remainingS: 100 });
    expect(calls).toHaveLength(2);
    expect(calls.map((c) => flag(c.script, "num-prompts"))).toEqual(["4", "16"]);
    expect(calls.every((c) => c.first === "sk-k")).toBe(true);
    // The container's limit is what is left of the search's cap.
    expect(calls[1].script).toContain("timeout --kill-after=30 100 ");
    expect(m).toMatchObject({ completed: 16, failed: 0, totalInputTokens: 16 * 8192, totalOutputTokens: 16 * 1024, requestGoodput: 1.5 });
    expect(m.ttftP99Ms).toBe(result.p99_ttft_ms);
    // A second level gets the next seeds.
    await measure(LEVEL(8), { remainingS: Infinity });
    expect(flag(calls[3].script, "seed")).toBe(String(levelSeeds(3, 1).measured));
    expect(calls[3].script).toContain("timeout --kill-after=30 600 ");
  });

  it("refuses a result missing a figure, naming the level", async () => {
    const { p99_ttft_ms: _dropped, ...partial } = seedResult();
    const measure = remoteMeasure({ ...BASE, warmupRequests: 0, exec: async () => JSON.stringify(partial) });
    await expect(measure(LEVEL(2), { remainingS: Infinity })).rejects.toThrow(/concurrency 2/);
  });
});

describe("processExecutor (a real bash running STDIN_SCRIPT_COMMAND)", () => {
  const bash = processExecutor("bash", ["-c", STDIN_SCRIPT_COMMAND], () => undefined);

  it("hands the first line, base64-framed, to the script's stdin and returns stdout", async () => {
    expect(await bash('IFS= read -r k; echo "key=$(printf %s "$k" | base64 -d)"; echo progress >&2', "sk-first", 30_000)).toBe("key=sk-first\n");
  });

  it("rejects a failing script with its exit status and the end of stderr", async () => {
    await expect(bash("echo boom >&2; exit 3", "", 30_000)).rejects.toThrow(/exited with 3: boom/);
  });

  it("ends a script that overruns its limit, and one that is aborted", async () => {
    await expect(bash("sleep 30", "", 200)).rejects.toThrow(/no end within 0 s/);
    const controller = new AbortController();
    const run = bash("sleep 30", "", 60_000, controller.signal);
    controller.abort();
    await expect(run).rejects.toThrow(/aborted/);
  });
});

describe("ssh", () => {
  it("arguments: the key file, port, no prompts, then the stdin-script command", () => {
    const args = sshArgs({ host: "203.0.113.7", port: 2222, user: "ubuntu", keyFile: "/tmp/k" });
    expect(args.slice(0, 4)).toEqual(["-i", "/tmp/k", "-p", "2222"]);
    expect(args).toContain("BatchMode=yes");
    expect(args.slice(-2)).toEqual(["ubuntu@203.0.113.7", STDIN_SCRIPT_COMMAND]);
    // The host key is always checked: against the pinned key's file when given, else the user's known_hosts.
    expect(args).toContain("StrictHostKeyChecking=yes");
    expect(args.some((a) => a.startsWith("UserKnownHostsFile="))).toBe(false);
    const pinned = sshArgs({ host: "203.0.113.7", port: 2222, user: "ubuntu", keyFile: "/tmp/k", knownHostsFile: "/tmp/kh" });
    expect(pinned).toContain("UserKnownHostsFile=/tmp/kh");
    expect(pinned.join(" ")).not.toMatch(/StrictHostKeyChecking=no|\/dev\/null/);
  });

  it("destinations: user@host[:port], IPv6 in brackets; anything else refused with the fix", () => {
    expect(parseSshDestination("ubuntu@203.0.113.7")).toEqual({ user: "ubuntu", host: "203.0.113.7", port: 22 });
    expect(parseSshDestination("me@[2001:db8::1]:2200")).toEqual({ user: "me", host: "2001:db8::1", port: 2200 });
    expect(() => parseSshDestination("203.0.113.7")).toThrow(/USER@HOST\[:PORT\]. Fix/);
    expect(() => parseSshDestination("u@h:99999")).toThrow(/Fix/);
  });
});

describe("bench:capacity --runner remote", () => {
  const base = ["--base-url", "http://127.0.0.1:18000", "--served-model-name", "qwen", "--concurrency-range", "1:8", "--slo", "ttft_p99_ms=300"];
  const parse = (extra: string[]) => parseCapacityArgs([...base, ...extra], {}) as CapacityCliPlan;

  it("takes the host, image and paths; the server port from --base-url", () => {
    expect(parse([]).remote).toBeUndefined();
    expect(parse(["--runner", "remote", "--ssh", "u@h:2200", "--vllm-image", "vllm/vllm-openai:v0.18.0", "--docker", "sudo docker"]).remote).toEqual({
      ssh: { user: "u", host: "h", port: 2200 }, port: 18000, vllmImage: "vllm/vllm-openai:v0.18.0", docker: "sudo docker", hfCacheDir: "~/.cache/huggingface", resultDir: "/var/tmp/hgx-benchmark",
    });
    expect(parse(["--runner", "remote"]).remote?.ssh).toBeUndefined();
  });

  it("refuses remote-only flags without --runner remote, and an unknown runner", () => {
    expect(() => parse(["--ssh", "u@h"])).toThrow(/--ssh needs --runner remote/);
    expect(() => parse(["--runner", "vllm"])).toThrow(/--runner must be native or remote/);
    expect(() => parse(["--runner", "remote", "--ssh", "nohost"])).toThrow(/USER@HOST/);
  });
});
