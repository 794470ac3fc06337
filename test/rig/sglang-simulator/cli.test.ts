import { afterEach, describe, expect, it } from "vitest";
import {
  DEFAULT_TIMING,
  FAST_TIMING,
  parseLaunchArgs,
  simulatorArgs,
  startSimulatorProcess,
  streamRequest,
  chatBody,
  type RunningSimulator,
} from "../../fixtures/sglang-simulator";

const SEED_FLAGS = [
  "--host", "0.0.0.0", "--port", "8000", "--model-path", "Qwen/Qwen3.5-397B-A17B", "--served-model-name", "qwen",
  "--tool-call-parser", "qwen3_coder", "--reasoning-parser", "qwen3", "--mamba-ssm-dtype", "float32", "--tp-size", "8",
  "--trust-remote-code", "--mem-fraction-static", "0.85",
];

describe("parseLaunchArgs", () => {
  it("takes the seed's command line, honouring what it models and listing the rest", () => {
    const c = parseLaunchArgs(SEED_FLAGS, {});
    expect(c.options).toMatchObject({ host: "0.0.0.0", port: 8000, modelPath: "Qwen/Qwen3.5-397B-A17B", servedModelName: "qwen", enableMetrics: false });
    expect(c.options.apiKey).toBeUndefined();
    expect(c.options.timing).toEqual({});
    expect(c.ignored).toEqual(["--tool-call-parser qwen3_coder", "--reasoning-parser qwen3", "--mamba-ssm-dtype float32", "--trust-remote-code"]);
    expect(c.serverArgs).toMatchObject({ tp_size: 8, mem_fraction_static: 0.85, trust_remote_code: true, tool_call_parser: "qwen3_coder" });
  });

  it("accepts --flag=value, underscores, boolean flags before other flags and negative numbers", () => {
    const c = parseLaunchArgs(["--enable-metrics", "--port=9000", "--max_running_requests", "4", "--random-seed", "-1", "--skip-server-warmup", "--log-level", "info"], {});
    expect(c.options.enableMetrics).toBe(true);
    expect(c.options.port).toBe(9000);
    expect(c.options.timing?.maxRunningRequests).toBe(4);
    expect(c.serverArgs).toMatchObject({ random_seed: -1, skip_server_warmup: true, log_level: "info" });
  });

  it("takes --sim-* flags over SIM_* env vars, and maps speculative decoding to tokens per chunk", () => {
    const c = parseLaunchArgs(["--sim-decode-base-ms", "7", "--speculative-algorithm", "NEXTN", "--speculative-num-steps", "3", "--sim-error-every", "5"], {
      SIM_DECODE_BASE_MS: "9",
      SIM_LOAD_MS: "1200",
      SIM_REFUSE_CONNECTIONS_MS: "100",
      SIM_DROP_STREAM_FRACTION: "0.25",
      SIM_NEVER_HEALTHY: "true",
    });
    expect(c.options.timing).toMatchObject({ decodeBaseMs: 7, loadMs: 1200, refuseConnectionsMs: 100, tokensPerChunk: 3 });
    expect(c.options.faults).toEqual({ errorEvery: 5, dropStreamFraction: 0.25, neverHealthy: true });
    expect(c.notes.join()).toMatch(/3 tokens per chunk/);
  });

  it("redacts secrets in server args and ignored-flag logs; SIM_API_KEY sets the key without the command line", () => {
    const c = parseLaunchArgs(["--api-key", "sk-abc", "--hf-token", "hf_xyz"], {});
    expect(c.options.apiKey).toBe("sk-abc");
    expect(JSON.stringify(c.serverArgs)).not.toMatch(/sk-abc|hf_xyz/);
    expect(c.ignored.join(" ")).not.toContain("hf_xyz");
    expect(parseLaunchArgs([], { SIM_API_KEY: "sk-env" }).options.apiKey).toBe("sk-env");
  });

  it("rejects bad values naming the flag, the value and the fix", () => {
    expect(() => parseLaunchArgs(["--mem-fraction-static", "1.2"], {})).toThrow(/--mem-fraction-static must be within \(0, 1\), got 1\.2; recipes use 0\.80-0\.85/);
    expect(() => parseLaunchArgs(["--port", "abc"], {})).toThrow(/--port must be a number, got "abc"/);
    expect(() => parseLaunchArgs(["--served-model-name", "qwen:lora"], {})).toThrow(/must not contain ":"/);
    expect(() => parseLaunchArgs(["--tp-size", "0"], {})).toThrow(/--tp-size must be a positive integer, got 0/);
    expect(() => parseLaunchArgs([], { SIM_DECODE_BASE_MS: "fast" })).toThrow(/SIM_DECODE_BASE_MS must be a number, got "fast"/);
    expect(() => parseLaunchArgs(["--sim-max-running-requests", "0"], {})).toThrow(/maxRunningRequests must be an integer >= 1/);
    expect(() => parseLaunchArgs(["stray"], {})).toThrow(/unexpected argument "stray"/);
    expect(() => parseLaunchArgs(["--sim-tokenizer", "gpt2"], {})).toThrow(/--sim-tokenizer must be "qwen3" or "estimate"/);
  });

  it("round-trips options through simulatorArgs", () => {
    const opts = { servedModelName: "qwen", enableMetrics: true, timing: { decodeBaseMs: 3, loadMs: 10, refuseConnectionsMs: 0 }, faults: { errorEvery: 2, neverHealthy: true }, tokenizer: "estimate" as const };
    const c = parseLaunchArgs(simulatorArgs(opts, 1234), {});
    expect(c.options).toMatchObject({ port: 1234, servedModelName: "qwen", enableMetrics: true, tokenizer: "estimate", timing: opts.timing, faults: opts.faults });
  });

  it("defaults match SGLang's (port 30000, 127.0.0.1) and the documented timing", () => {
    const c = parseLaunchArgs([], {});
    expect(c.options).toMatchObject({ host: "127.0.0.1", port: 30000 });
    expect(DEFAULT_TIMING.decodeBaseMs).toBe(20);
  });
});

describe("startSimulatorProcess", () => {
  let sim: RunningSimulator | undefined;
  afterEach(async () => {
    await sim?.close();
  });

  it("runs the CLI in a child process with the same API", async () => {
    sim = await startSimulatorProcess({ servedModelName: "qwen", apiKey: "sk-child", timing: { ...FAST_TIMING, refuseConnectionsMs: 200, loadMs: 400 } });
    await sim.whenHealthy;
    expect(sim.phase()).toBe("ready");
    const r = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody("hello", 3), { authorization: "Bearer sk-child" });
    expect(r.messages.at(-1)?.data).toBe("[DONE]");
    const stats = await sim.stats();
    expect(stats).toMatchObject({ requestsCompleted: 1, generationTokensTotal: 3, tokenizer: "qwen3" });
    await sim.close();
    expect(await sim.whenStopped).toBe("closed");
    expect(sim.phase()).toBe("closed");
  });
});
