import { describe, expect, it } from "vitest";
import {
  extraFlagValue,
  gpuFitProblems,
  overridesFromFlagNames,
  renderSglangArgv,
  resolveSglangFlags,
  servedModelNameOf,
  SGLANG_PRESETS,
  type SglangFlags,
  validateSglangFlags,
} from "../../../../components/serving/sglang/args";

const SEED_LINE =
  "--host 0.0.0.0 --port 8000 --model-path Qwen/Qwen3.5-397B-A17B --served-model-name qwen " +
  "--tool-call-parser qwen3_coder --reasoning-parser qwen3 --mamba-ssm-dtype float32 --tp-size 8 " +
  "--trust-remote-code --mem-fraction-static 0.85";

describe("presets", () => {
  it("seed renders exactly the seed's flags in the seed's order", () => {
    expect(renderSglangArgv(resolveSglangFlags("seed")).join(" ")).toBe(SEED_LINE);
  });

  it("seed and b200 validate cleanly on an 8-GPU host", () => {
    for (const name of ["seed", "b200"] as const) {
      const v = validateSglangFlags(resolveSglangFlags(name), [], { gpuCount: 8 });
      expect(v.errors, name).toEqual([]);
      expect(v.warnings, name).toEqual([]);
    }
  });

  it("b200 turns on MTP with extra_buffer, trtllm_mha, metrics, watchdog and multithreaded loading", () => {
    const argv = renderSglangArgv(resolveSglangFlags("b200"));
    const line = argv.join(" ");
    expect(line.startsWith("--host 0.0.0.0 --port 8000 --model-path Qwen/Qwen3.5-397B-A17B --served-model-name qwen")).toBe(true);
    expect(line).toContain("--mem-fraction-static 0.8 ");
    expect(line).toContain("--attention-backend trtllm_mha");
    // 0.5.14 deprecates --mamba-scheduler-strategy (a warning at start): the new name is rendered.
    expect(line).toContain("--mamba-radix-cache-strategy extra_buffer");
    expect(line).not.toContain("--mamba-scheduler-strategy");
    expect(line).toContain("--speculative-algorithm NEXTN --speculative-num-steps 3 --speculative-eagle-topk 1 --speculative-num-draft-tokens 4");
    expect(line).toContain("--watchdog-timeout 1200");
    expect(argv).toContain("--enable-metrics");
    expect(argv).toContain("--enable-cache-report");
    const i = argv.indexOf("--model-loader-extra-config");
    expect(JSON.parse(argv[i + 1])).toEqual({ enable_multithread_load: true, num_threads: 16 });
    expect(argv).not.toContain("--kv-cache-dtype");
    // Qwen3.5 is native to SGLang and transformers: no remote code in a root container with every GPU.
    expect(argv).not.toContain("--trust-remote-code");
    expect(renderSglangArgv(resolveSglangFlags("seed"))).toContain("--trust-remote-code");
  });

  it("presets are not mutated by overrides", () => {
    const before = JSON.stringify(SGLANG_PRESETS);
    resolveSglangFlags("b200", { memFractionStatic: 0.7, speculativeAlgorithm: undefined });
    expect(JSON.stringify(SGLANG_PRESETS)).toBe(before);
  });
});

describe("overrides and rendering", () => {
  it("overrides replace values and undefined removes a preset flag", () => {
    const flags = resolveSglangFlags("seed", { memFractionStatic: 0.8, trustRemoteCode: undefined, contextLength: 131072 });
    const argv = renderSglangArgv(flags);
    expect(argv).not.toContain("--trust-remote-code");
    expect(argv.slice(argv.indexOf("--mem-fraction-static"), argv.indexOf("--mem-fraction-static") + 2)).toEqual(["--mem-fraction-static", "0.8"]);
    expect(argv.slice(-2)).toEqual(["--context-length", "131072"]);
  });

  it("false booleans render nothing; extra flags are appended verbatim", () => {
    const flags: SglangFlags = { modelPath: "m/x", enableMetrics: false, trustRemoteCode: true };
    expect(renderSglangArgv(flags, ["--cuda-graph-max-bs", "64"])).toEqual(["--model-path", "m/x", "--trust-remote-code", "--cuda-graph-max-bs", "64"]);
  });

  it("served name falls back to the model path", () => {
    expect(servedModelNameOf({ modelPath: "a/b" })).toBe("a/b");
    expect(servedModelNameOf({ modelPath: "a/b", servedModelName: "q" })).toBe("q");
  });

  it("never renders an api key (there is no typed field for it)", () => {
    const argv = renderSglangArgv(resolveSglangFlags("b200"));
    expect(argv.join(" ")).not.toMatch(/api-key/);
  });

  it("extraFlagValue reads both spellings", () => {
    expect(extraFlagValue(["--a", "1", "--b"], "--a")).toBe("1");
    expect(extraFlagValue(["--a=2"], "--a")).toBe("2");
    expect(extraFlagValue(["--b", "--a"], "--b")).toBe(true);
    expect(extraFlagValue([], "--b")).toBeUndefined();
  });
});

describe("validation", () => {
  const seed = resolveSglangFlags("seed");
  const errorsOf = (flags: SglangFlags, extra: string[] = [], gpuCount = 8) => validateSglangFlags(flags, extra, { gpuCount }).errors;

  it("reports each problem structured: the setting it is about, the value seen, the fix; the printed text is message; fix", () => {
    const v = validateSglangFlags({ ...seed, servedModelName: "qwen:lora", tpSize: 3 }, ["--api-key", "x"], { gpuCount: 8 });
    expect(v.problems.map((p) => p.key)).toEqual(["flagOverrides.servedModelName", "flagOverrides.tpSize", "extraFlags"]);
    expect(v.problems[0]).toEqual({
      key: "flagOverrides.servedModelName",
      message: '--served-model-name "qwen:lora" contains ":", which SGLang reserves for LoRA adapters (model:adapter)',
      fix: 'use a name without ":", e.g. "qwen-lora"',
    });
    expect(v.problems[1]).toMatchObject({ message: "--tp-size 3 does not divide the host's 8 GPUs", fix: "use a divisor of 8 (e.g. 2)" });
    expect(v.errors).toEqual(v.problems.map((p) => `${p.message}; ${p.fix}`));
  });

  it("keys the GPU fit to the tp size, so a late GPU count checks only it (no text filter)", () => {
    expect(gpuFitProblems({ ...seed, tpSize: 8, dpSize: 2 }, [], 8).map((p) => p.key)).toEqual(["flagOverrides.tpSize"]);
    expect(gpuFitProblems({ ...seed, tpSize: 8 }, ["--enable-dp-attention"], 4)[0].message).toBe("--tp-size 8 needs 8 GPUs but the host has 4");
    expect(gpuFitProblems({ ...seed, tpSize: 4, dpSize: 2 }, [], 8)).toEqual([]);
    // Not about the GPUs: left to the plan-time validation.
    expect(gpuFitProblems({ ...seed, tpSize: 8, dpSize: 3 }, ["--enable-dp-attention"], 8)).toEqual([]);
  });

  it("keys mamba radix-cache problems to the strategy flag, and the track interval to extraFlags", () => {
    const mtp = resolveSglangFlags("b200");
    expect(validateSglangFlags({ ...seed, mambaRadixCacheStrategy: "no_buffer" }).problems).toEqual([
      expect.objectContaining({ key: "flagOverrides.mambaRadixCacheStrategy", fix: 'add "--disable-overlap-schedule" to extraFlags, or use "extra_buffer"' }),
    ]);
    expect(validateSglangFlags(mtp, ["--mamba-track-interval", "2"]).problems).toEqual([
      expect.objectContaining({ key: "extraFlags", fix: "raise --mamba-track-interval to at least 4" }),
    ]);
  });

  it("returns ALL errors together, each naming flag, value and fix", () => {
    const errors = errorsOf({ ...seed, servedModelName: "qwen:lora", memFractionStatic: 1.2, port: 70000, toolCallParser: "qwen4" });
    expect(errors).toHaveLength(4);
    expect(errors[0]).toMatch(/--served-model-name "qwen:lora".*":".*"qwen-lora"/);
    expect(errors.join("\n")).toMatch(/--port 70000 .*1-65535/);
    expect(errors.join("\n")).toMatch(/--mem-fraction-static 1.2 must be strictly between 0 and 1/);
    expect(errors.join("\n")).toMatch(/--tool-call-parser "qwen4" is not accepted by SGLang 0\.5\.14 \(the conformance-checked release\); use one of: .*qwen3_coder/);
  });

  it("tp x dp must fit the GPUs and tp must divide them", () => {
    expect(errorsOf({ ...seed, tpSize: 8, dpSize: 2 })[0]).toMatch(/--tp-size 8 x --dp-size 2 needs 16 GPUs but the host has 8/);
    expect(errorsOf({ ...seed, tpSize: 3 })[0]).toMatch(/--tp-size 3 does not divide the host's 8 GPUs; .*e.g. 2/);
    expect(errorsOf({ ...seed, tpSize: 4, dpSize: 2 })).toEqual([]);
    expect(errorsOf({ ...seed, tpSize: 8, dpSize: 8 }, ["--enable-dp-attention"])).toEqual([]);
    expect(errorsOf({ ...seed, tpSize: 8, dpSize: 3 }, ["--enable-dp-attention"])[0]).toMatch(/--dp-size 3 with --enable-dp-attention must divide --tp-size 8/);
    expect(errorsOf({ ...seed, tpSize: 8 }, [], 4)[0]).toMatch(/needs 8 GPUs but the host has 4/);
    // Unknown GPU count: fit checks are skipped (done later by the component).
    expect(validateSglangFlags({ ...seed, tpSize: 16 }).errors).toEqual([]);
  });

  it("mamba radix-cache rules are 0.5.14's: auto is fine with MTP, no_buffer never with trtllm_mha", () => {
    const mtp = { ...seed, speculativeAlgorithm: "NEXTN", speculativeNumSteps: 3, speculativeEagleTopk: 1, speculativeNumDraftTokens: 4 };
    // auto (unset) resolves to extra_buffer with the overlap scheduler on: SGLang 0.5.14 accepts it.
    expect(errorsOf(mtp)).toEqual([]);
    expect(errorsOf({ ...mtp, mambaRadixCacheStrategy: "auto" })).toEqual([]);
    expect(errorsOf({ ...mtp, mambaRadixCacheStrategy: "extra_buffer" })).toEqual([]);
    // no_buffer: trtllm_mha (stated, or SGLang's own pick on B200 with speculative decoding) is refused, and so is the overlap scheduler.
    expect(errorsOf({ ...mtp, mambaRadixCacheStrategy: "no_buffer", attentionBackend: "trtllm_mha" }, ["--disable-overlap-schedule"])).toEqual([
      expect.stringMatching(/no_buffer cannot run with the trtllm_mha attention backend; SGLang 0\.5\.14 refuses it at start/),
    ]);
    expect(errorsOf({ ...mtp, mambaRadixCacheStrategy: "no_buffer" }, ["--disable-overlap-schedule"])[0]).toMatch(/SGLang picks it on B200/);
    expect(errorsOf({ ...seed, mambaRadixCacheStrategy: "no_buffer" })).toEqual([expect.stringMatching(/needs --disable-overlap-schedule/)]);
    expect(errorsOf({ ...mtp, mambaRadixCacheStrategy: "no_buffer", attentionBackend: "triton" }, ["--disable-overlap-schedule"])).toEqual([]);
    // no_buffer is refused with trtllm_mha even without MTP (0.5.14's assertion is not about speculative decoding).
    expect(errorsOf({ ...seed, attentionBackend: "trtllm_mha", mambaRadixCacheStrategy: "no_buffer" }, ["--disable-overlap-schedule"])).toHaveLength(1);
    // extra_buffer_lazy is a 0.5.14 strategy, but not with speculative decoding.
    expect(errorsOf({ ...seed, mambaRadixCacheStrategy: "extra_buffer_lazy" })).toEqual([]);
    expect(errorsOf({ ...mtp, mambaRadixCacheStrategy: "extra_buffer_lazy" })[0]).toMatch(/extra_buffer_lazy cannot be combined with --speculative-algorithm NEXTN/);
    expect(errorsOf(mtp, ["--mamba-track-interval", "2"])[0]).toMatch(/--mamba-track-interval 2 is below --speculative-num-draft-tokens 4/);
    // Nothing applies without the radix cache.
    expect(errorsOf({ ...seed, mambaRadixCacheStrategy: "no_buffer" }, ["--disable-radix-cache"])).toEqual([]);
  });

  it("value lists are the pinned release's: nano_v3 refused, the release's parsers and backends accepted, deprecated values renamed", () => {
    expect(errorsOf({ ...seed, reasoningParser: "nano_v3" })[0]).toMatch(/--reasoning-parser "nano_v3" is not accepted by SGLang 0\.5\.14 .*use one of: .*qwen3/);
    for (const toolCallParser of ["hermes", "glm47", "deepseekv4", "step3p5", "trinity"]) expect(errorsOf({ ...seed, toolCallParser })).toEqual([]);
    for (const reasoningParser of ["nemotron_3", "gemma4", "deepseek-v4", "mimo"]) expect(errorsOf({ ...seed, reasoningParser })).toEqual([]);
    for (const attentionBackend of ["cutedsl_mla", "tokenspeed_mla", "dual_chunk_flash_attn", "intel_amx"]) expect(errorsOf({ ...seed, attentionBackend })).toEqual([]);
    expect(errorsOf({ ...seed, attentionBackend: "flashmla_v9" })[0]).toMatch(/--attention-backend "flashmla_v9" is not accepted by SGLang 0\.5\.14/);
    expect(errorsOf({ ...seed, speculativeAlgorithm: "DFLASH", speculativeNumSteps: 3, speculativeEagleTopk: 1, speculativeNumDraftTokens: 4 })).toEqual([]);
    // 0.5.14 rewrites qwen25 to qwen with a warning: the project renders the new name.
    expect(renderSglangArgv({ ...seed, toolCallParser: "qwen25" }).join(" ")).toContain("--tool-call-parser qwen ");
    // Stack config written with the deprecated flag name sets the renamed flag.
    expect(overridesFromFlagNames({ "mamba-scheduler-strategy": "extra_buffer" }).overrides).toEqual({ mambaRadixCacheStrategy: "extra_buffer" });
  });

  it("trtllm_mha only with eagle topk <= 1", () => {
    const flags = resolveSglangFlags("b200", { speculativeEagleTopk: 4, speculativeNumDraftTokens: 8 });
    expect(errorsOf(flags)).toEqual([expect.stringMatching(/trtllm_mha supports speculative decoding only with --speculative-eagle-topk <= 1 \(got 4\)/)]);
  });

  it("mixed chunk with speculative decoding is refused", () => {
    expect(errorsOf(resolveSglangFlags("b200"), ["--enable-mixed-chunk"])[0]).toMatch(/--enable-mixed-chunk cannot be combined/);
  });

  it("parsers, dtypes and strategies come from the known sets", () => {
    const errors = errorsOf({
      ...seed,
      reasoningParser: "nope",
      mambaSsmDtype: "fp8" as never,
      kvCacheDtype: "int4" as never,
      logLevel: "loud" as never,
    });
    expect(errors.map((e) => e.split(" ")[0])).toEqual(["--kv-cache-dtype", "--mamba-ssm-dtype", "--log-level", "--reasoning-parser"]);
  });

  it("api key in extra flags is an error; duplicates of typed flags are errors; unknown and deprecated flags warn", () => {
    const v = validateSglangFlags(seed, ["--api-key", "x", "--tp-size", "4", "--cuda-graph-max-bs-decode", "64", "--made-up-flag"], { gpuCount: 8 });
    expect(v.errors[0]).toMatch(/--api-key must not be passed in extraFlags/);
    expect(v.errors[0]).not.toContain(" x ");
    expect(v.errors[1]).toMatch(/--tp-size is set both by the preset\/overrides \(tpSize=8\) and in extraFlags; set it once, via flagOverrides.tpSize/);
    expect(v.warnings).toEqual([expect.stringMatching(/extra flag --made-up-flag is not a server flag of SGLang 0\.5\.14/)]);
    // The release's own list of deprecated flags: 0.5.14 renamed --cuda-graph-max-bs.
    expect(validateSglangFlags(seed, ["--cuda-graph-max-bs", "64"]).warnings).toEqual([
      expect.stringMatching(/extra flag --cuda-graph-max-bs is deprecated in SGLang 0\.5\.14; use --cuda-graph-max-bs-decode/),
    ]);
  });

  it("warns on risky but legal values", () => {
    const v = validateSglangFlags({ ...seed, memFractionStatic: 0.95, kvCacheDtype: "fp8_e4m3", contextLength: 32768 }, [], { gpuCount: 8 });
    expect(v.errors).toEqual([]);
    expect(v.warnings.join("\n")).toMatch(/0.95 leaves little room/);
    expect(v.warnings.join("\n")).toMatch(/FP8 KV/);
    expect(v.warnings.join("\n")).toMatch(/below 128K/);
  });

  it("model path, integers, watchdog and loader config are checked", () => {
    const errors = errorsOf({
      modelPath: "",
      tpSize: 0,
      maxRunningRequests: 1.5,
      watchdogTimeout: -1,
      modelLoaderExtraConfig: "not json" as never,
    });
    expect(errors.join("\n")).toMatch(/--model-path is required/);
    expect(errors.join("\n")).toMatch(/--tp-size 0 is invalid/);
    expect(errors.join("\n")).toMatch(/--max-running-requests 1.5 is invalid/);
    expect(errors.join("\n")).toMatch(/--watchdog-timeout -1/);
    expect(errors.join("\n")).toMatch(/--model-loader-extra-config not json is not valid JSON/);
  });
});
