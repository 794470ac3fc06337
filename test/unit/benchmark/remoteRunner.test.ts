import { describe, expect, it } from "vitest";
import {
  bundledTokenizerProblem,
  DEFAULT_VLLM_IMAGE,
  renderRemoteBenchCommand,
  resultFilename,
  shellPath,
  shellQuote,
  vllmBenchServeArgs,
} from "../../../components/benchmark/remoteRunner";
import { resolveWorkload, SEED_WORKLOAD } from "../../../components/benchmark/workload";

const SEED = { port: 8000, model: "Qwen/Qwen3.5-397B-A17B", servedModelName: "qwen", apiKeyFromStdin: true } as const;

describe("renderRemoteBenchCommand", () => {
  it("renders the FULL script for the seed workload", () => {
    expect(renderRemoteBenchCommand(SEED)).toBe(
      [
        "set -u",
        'OPENAI_API_KEY=""',
        "IFS= read -r OPENAI_API_KEY || true",
        'if [ -n "$OPENAI_API_KEY" ]; then',
        `  OPENAI_API_KEY=$(printf '%s' "$OPENAI_API_KEY" | base64 -d 2>/dev/null) || { echo "stdin's first line is not the base64 framing of OPENAI_API_KEY; refusing to run" >&2; exit 2; }`,
        "fi",
        "export OPENAI_API_KEY",
        "mkdir -p /var/tmp/hgx-benchmark",
        "rm -f /var/tmp/hgx-benchmark/qwen-8192in-1024out-512x32.json",
        "docker rm -f hgx-benchmark >/dev/null 2>&1 || true",
        "if ! docker image inspect vllm/vllm-openai:v0.18.0 >/dev/null 2>&1; then",
        '  echo "pulling vllm/vllm-openai:v0.18.0 (first benchmark on this host)" >&2',
        '  timeout 1800 docker pull vllm/vllm-openai:v0.18.0 >&2 || { echo "docker pull vllm/vllm-openai:v0.18.0 failed or took longer than 1800 s" >&2; exit 1; }',
        "fi",
        "timeout --kill-after=30 3600 docker run --rm --name hgx-benchmark --network host --gpus all --entrypoint vllm" +
          ' -v "$HOME"/.cache/huggingface:/root/.cache/huggingface -v /var/tmp/hgx-benchmark:/results -e OPENAI_API_KEY' +
          " vllm/vllm-openai:v0.18.0 bench serve --backend openai-chat --base-url http://127.0.0.1:8000" +
          " --endpoint /v1/chat/completions --model Qwen/Qwen3.5-397B-A17B --served-model-name qwen" +
          " --dataset-name random --random-input-len 8192 --random-output-len 1024 --num-prompts 512 --max-concurrency 32" +
          " --temperature 0 --ignore-eos --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,90,99" +
          " --save-result --result-dir /results --result-filename qwen-8192in-1024out-512x32.json >&2",
        "status=$?",
        'if [ "$status" -ne 0 ]; then',
        "  docker rm -f hgx-benchmark >/dev/null 2>&1",
        '  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then echo "vllm bench serve did not finish within 3600 s and was stopped" >&2; fi',
        '  echo "vllm bench serve failed with exit status $status" >&2',
        '  exit "$status"',
        "fi",
        "cat /var/tmp/hgx-benchmark/qwen-8192in-1024out-512x32.json",
        "",
      ].join("\n"),
    );
  });

  it("pins a real release tag by default", () => {
    expect(DEFAULT_VLLM_IMAGE).toMatch(/^vllm\/vllm-openai:v\d+\.\d+\.\d+$/);
  });

  it("without an API key neither reads stdin nor passes OPENAI_API_KEY", () => {
    const s = renderRemoteBenchCommand({ ...SEED, apiKeyFromStdin: false });
    expect(s).not.toContain("OPENAI_API_KEY");
    expect(s.startsWith("set -u\nmkdir -p")).toBe(true);
  });

  it("makes image, timeouts, directories, docker and GPUs configurable", () => {
    const s = renderRemoteBenchCommand({
      ...SEED,
      image: "vllm/vllm-openai:v0.11.0",
      timeoutSeconds: 900,
      pullTimeoutSeconds: 60,
      hfCacheDir: "/data/hf cache",
      resultDir: "/srv/bench/",
      docker: "sudo docker",
      gpus: false,
      containerName: "bench-1",
      workload: resolveWorkload({ numPrompts: 8, maxConcurrency: 2 }),
    });
    expect(s).toContain("timeout --kill-after=30 900 sudo docker run --rm --name bench-1 --network host --entrypoint vllm -v '/data/hf cache':/root/.cache/huggingface -v /srv/bench/:/results");
    expect(s).toContain("timeout 60 sudo docker pull vllm/vllm-openai:v0.11.0");
    expect(s).toContain("--num-prompts 8 --max-concurrency 2");
    expect(s).toContain("cat /srv/bench/qwen-8192in-1024out-8x2.json");
    expect(s).not.toContain("--gpus");
  });

  it("mounts a model given as a host path read-only at the same path", () => {
    const s = renderRemoteBenchCommand({ ...SEED, model: "/models/qwen3.5" });
    expect(s).toContain("-v /models/qwen3.5:/models/qwen3.5:ro");
    expect(s).toContain("--model /models/qwen3.5");
  });

  it("quotes hostile values so they stay single words", () => {
    const s = renderRemoteBenchCommand({ ...SEED, servedModelName: "q'; rm -rf / #" });
    expect(s).toContain(`--served-model-name 'q'\\''; rm -rf / #'`);
    expect(s).toContain("--result-filename q_rm_-rf_-8192in-1024out-512x32.json");
  });

  it("rejects unpinned images and bad settings, naming the fix", () => {
    expect(() => renderRemoteBenchCommand({ ...SEED, image: "vllm/vllm-openai:latest" })).toThrow(/pinned.*not latest/);
    expect(() => renderRemoteBenchCommand({ ...SEED, image: "vllm/vllm-openai" })).toThrow(/vllmImage/);
    expect(() => renderRemoteBenchCommand({ ...SEED, timeoutSeconds: 0 })).toThrow(/timeoutSeconds/);
    expect(() => renderRemoteBenchCommand({ ...SEED, port: 70000 })).toThrow(/port must be 1-65535.*8000/);
    expect(() => renderRemoteBenchCommand({ ...SEED, servedModelName: "" })).toThrow(/servedModelName/);
    expect(() => renderRemoteBenchCommand({ ...SEED, resultFilename: "../x.json" })).toThrow(/plain file name/);
  });
});

describe("tokenizer other than the model's", () => {
  const base = { port: 8000, model: "Qwen/Qwen3.5-397B-A17B", servedModelName: "qwen" };
  it("passes --tokenizer only when it differs from the model, and mounts a host path", () => {
    expect(renderRemoteBenchCommand(base)).not.toContain("--tokenizer");
    expect(renderRemoteBenchCommand({ ...base, tokenizer: "Qwen/Qwen3.5-397B-A17B" })).not.toContain("--tokenizer");
    expect(renderRemoteBenchCommand({ ...base, tokenizer: "Qwen/Qwen3-0.6B" })).toContain("--model Qwen/Qwen3.5-397B-A17B --tokenizer Qwen/Qwen3-0.6B --served-model-name qwen");
    expect(renderRemoteBenchCommand({ ...base, tokenizer: "/data/tok" })).toContain("-v /data/tok:/data/tok:ro");
  });
  it("refuses the native runner's bundled tokenizer for real vllm images, and lets a stand-in image take it", () => {
    expect(() => renderRemoteBenchCommand({ ...base, tokenizer: "bundled" })).toThrow(/tokenizer "bundled" is the native runner's packaged Qwen3 tokenizer; vllm\/vllm-openai:v0\.18\.0 \(vllm bench serve\) cannot load it/);
    expect(bundledTokenizerProblem("docker.io/vllm/vllm-openai@sha256:" + "a".repeat(64))).toBeDefined();
    expect(bundledTokenizerProblem("hgx-test/vllm-standin:0.18.0")).toBeUndefined();
    expect(renderRemoteBenchCommand({ ...base, image: "hgx-test/vllm-standin:0.18.0", tokenizer: "bundled" })).toContain("--tokenizer bundled");
  });
});

describe("pieces", () => {
  it("vllmBenchServeArgs: the backend follows the endpoint, --ignore-eos always, extra args last", () => {
    const args = vllmBenchServeArgs({
      port: 30000,
      model: "m",
      servedModelName: "s",
      workload: resolveWorkload({ metricPercentiles: [99, 99.9] }),
      resultFilename: "r.json",
      extraBenchArgs: ["--seed", "7"],
    });
    expect(args[args.indexOf("--backend") + 1]).toBe("openai-chat");
    expect(args).toContain("--ignore-eos");
    expect(args.slice(-2)).toEqual(["--seed", "7"]);
    expect(args[args.indexOf("--metric-percentiles") + 1]).toBe("99,99.9");
    expect(args[args.indexOf("--base-url") + 1]).toBe("http://127.0.0.1:30000");
    const completions = vllmBenchServeArgs({ port: 8000, model: "m", servedModelName: "s", workload: resolveWorkload({ endpoint: "/v1/completions" }), resultFilename: "r.json" });
    expect(completions[completions.indexOf("--backend") + 1]).toBe("openai");
  });

  it("vllmBenchServeArgs refuses what vllm 0.18.0 would refuse or override, naming the setting and the fix", () => {
    const args = (w: Parameters<typeof resolveWorkload>[0]) => () => vllmBenchServeArgs({ port: 8000, model: "m", servedModelName: "s", workload: resolveWorkload(w), resultFilename: "r.json" });
    expect(args({ endpoint: "/v1/embeddings" })).toThrow(/benchmark workload\.endpoint = "\/v1\/embeddings" cannot be run by the remote runner: vllm bench serve 0\.18\.0 .*chat\/completions.*Fix: \/v1\/chat\/completions/);
    expect(args({ ignoreEos: false })).toThrow(/benchmark workload\.ignoreEos = false cannot be run by the remote runner: vllm bench serve 0\.18\.0 sends ignore_eos with the random dataset.*Fix: leave ignoreEos true, or use the native runner/);
  });

  it("shellQuote / shellPath", () => {
    expect(shellQuote("abc/def:1.0")).toBe("abc/def:1.0");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("$HOME")).toBe("'$HOME'");
    expect(shellPath("~/x y")).toBe(`"$HOME"/'x y'`);
    expect(shellPath("~")).toBe('"$HOME"');
  });

  it("resultFilename is deterministic", () => {
    expect(resultFilename("qwen", SEED_WORKLOAD)).toBe("qwen-8192in-1024out-512x32.json");
  });
});
