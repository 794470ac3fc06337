import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { BOOT_LOG_GREP, bootLogEvents, parseBootLogLine, splitDockerStamp, summarizeBootLog } from "../../../components/serving/bootLog";

/** A `docker logs --timestamps` line at `second` past 23:30:00 (fraction kept to the nanosecond, as docker prints). */
function at(second: number, text: string): string {
  const whole = Math.floor(second);
  const nanos = String(Math.round((second - whole) * 1e9)).padStart(9, "0");
  const ss = String(whole % 60).padStart(2, "0");
  const mm = String(30 + Math.floor(whole / 60)).padStart(2, "0");
  return `2026-12-07T23:${mm}:${ss}.${nanos}Z [2026-12-07 23:${mm}:${ss}${text.startsWith("]") ? "" : " "}${text}`;
}

/** Eight TP ranks printing the same line, each `skew` seconds after the previous one. */
function ranks(second: number, message: string, skew = 0.25): string[] {
  return Array.from({ length: 8 }, (_, r) => at(second + r * skew, `TP${r}] ${message}`));
}

const COLD_BOOT = [
  at(0.5, "] server_args=ServerArgs(model_path='Qwen/Qwen3.5-397B-A17B', tp_size=8, api_key='<redacted>')"),
  ...ranks(4, "Init torch distributed begin."),
  ...ranks(10, "Load weight begin. avail mem=177.52 GB"),
  at(11, "TP0] Using model weights format ['*.safetensors']"),
  ...ranks(130, "Load weight end. elapsed=120.31 s, type=Qwen3_5MoeForConditionalGeneration, avail mem=84.10 GB, mem usage=93.42 GB.", 1),
  ...ranks(140, "KV Cache is allocated. dtype: torch.bfloat16, #tokens: 2811520, KV size: 53.63 GB"),
  ...ranks(141, "Memory pool end. avail mem=27.98 GB"),
  ...ranks(142, "Capture target decode CUDA graph begin. backend=full, num_tokens_per_bs=1, bs=[1, 2, 4, 8], avail mem=27.40 GB"),
  at(150, "TP0] Capture cuda graph bs [1, 2, 4, 8]"),
  ...ranks(202, "Capture target decode CUDA graph end. elapsed=60.02 s, mem usage=1.20 GB, avail mem=26.20 GB.", 0.5),
  ...ranks(205, "Running FlashInfer autotune with cache: /root/.cache/sglang/flashinfer/autotune/0.6.3/sm100/abc/rank_tp0_pp0_dp0.json"),
  ...ranks(265, "FlashInfer autotune completed."),
  at(270, "] INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)"),
  at(281.5, "] The server is fired up and ready to roll!"),
].join("\n");

describe("parseBootLogLine", () => {
  it("reads docker's nanosecond timestamp as the host clock and SGLang's rank prefix", () => {
    const e = parseBootLogLine("2026-12-07T23:32:10.123456789Z [2026-12-07 23:32:09 DP0 TP3 EP3] Load weight end. elapsed=120.31 s");
    expect(e).toEqual({ marker: "weightsEnd", atMs: Date.parse("2026-12-07T23:32:10.123Z"), rank: "DP0 TP3 EP3", message: "Load weight end. elapsed=120.31 s" });
  });

  it("falls back to SGLang's own asctime (as UTC) when the line has no docker timestamp", () => {
    expect(parseBootLogLine("[2026-12-07 23:32:09.250 TP0] Memory pool end. avail mem=27.98 GB")?.atMs).toBe(Date.parse("2026-12-07T23:32:09.250Z"));
  });

  it("recognises the prefill and draft captures and the simulator's rank-less lines, and ignores lookalikes", () => {
    expect(parseBootLogLine("[2026-12-07 23:32:09 TP1] Capture target prefill CUDA graph begin. backend=full")?.marker).toBe("captureBegin");
    expect(parseBootLogLine("[2026-12-07 23:32:09 TP1] Capture draft decode CUDA graph end. elapsed=3 s")?.marker).toBe("captureEnd");
    expect(parseBootLogLine("[2026-12-07 23:32:09] The server is fired up and ready to roll!")?.rank).toBe("");
    expect(parseBootLogLine("[2026-12-07 23:32:09 TP0] Capture cuda graph bs [1, 2, 4]")).toBeUndefined();
    expect(parseBootLogLine("2026-12-07T23:32:10Z GET /health 200 Load weight begin.")).toBeUndefined();
    expect(parseBootLogLine("Load weight begin. (no time at all)")).toBeUndefined();
  });

  it("splitDockerStamp keeps the offset and rejects a line without a stamp", () => {
    expect(splitDockerStamp("2026-12-07T23:30:00+01:00 x")).toEqual([Date.parse("2026-12-07T22:30:00Z"), "x"]);
    expect(splitDockerStamp("[2026-12-07 23:30:00] x")).toBeUndefined();
  });
});

describe("summarizeBootLog", () => {
  it("turns a TP8 cold boot into phases bounded by the earliest start and the latest end over the ranks", () => {
    const s = summarizeBootLog(COLD_BOOT);
    expect(s.phases.map((p) => [p.phase, p.seconds])).toEqual([
      // Load weight begin at 10 s (TP0) to the last rank's end at 130 + 7 = 137 s.
      ["weightsLoad", 127],
      // First weights end (130 s) to the last "Memory pool end" (141 + 7 x 0.25 = 142.75 s).
      ["memoryPool", 12.75],
      ["cudaGraphCapture", 202 + 3.5 - 142],
      ["flashinferAutotune", 265 + 1.75 - 205],
      ["warmup", 281.5 - 266.75],
    ]);
    expect(s.phases[0]).toMatchObject({ start: "2026-12-07T23:30:10.000Z", end: "2026-12-07T23:32:17.000Z" });
    expect(s.phases[0].ranks).toEqual(["TP0", "TP1", "TP2", "TP3", "TP4", "TP5", "TP6", "TP7"]);
    expect(s.readyAt).toBe("2026-12-07T23:34:41.500Z");
    expect(s.compileCacheHit).toBeUndefined();
  });

  it("leaves out phases whose lines are missing (no autotune, --disable-cuda-graph) and ends warm-up at the pool", () => {
    const noCapture = COLD_BOOT.split("\n").filter((l) => !/Capture|autotune/i.test(l)).join("\n");
    const s = summarizeBootLog(noCapture);
    expect(s.phases.map((p) => p.phase)).toEqual(["weightsLoad", "memoryPool", "warmup"]);
    expect(s.phases[2].seconds).toBe(281.5 - 142.75);
  });

  it("a boot still running has its open phase with a start and no end, and no readyAt", () => {
    const running = COLD_BOOT.split("\n").filter((l) => !/Load weight end|Memory pool|Capture|autotune|KV Cache|ready to roll/.test(l)).join("\n");
    const s = summarizeBootLog(running);
    expect(s.phases).toHaveLength(1);
    expect(s.phases[0]).toMatchObject({ phase: "weightsLoad", start: "2026-12-07T23:30:10.000Z" });
    expect(s.phases[0].end).toBeUndefined();
    expect(s.phases[0].seconds).toBeUndefined();
    expect(s.readyAt).toBeUndefined();
  });

  it("a log whose start scrolled away (docker logs --tail) gives no phase for the ends alone", () => {
    const tail = COLD_BOOT.split("\n").filter((l) => !/begin|Running FlashInfer|Load weight/.test(l)).join("\n");
    expect(summarizeBootLog(tail).phases.map((p) => p.phase)).toEqual(["warmup"]);
  });

  it("reads the simulator's compile lines: a miss spans to 'compile end', a hit is an instant", () => {
    const miss = [
      "2026-12-07T23:30:00.000Z [2026-12-07 23:30:00] Load weight begin. avail mem=177.00 GB",
      "2026-12-07T23:30:00.100Z [2026-12-07 23:30:00] simulator: compile cache miss: /cache/sim/compile/k.done absent, compiling for 1500 ms",
      "2026-12-07T23:30:01.600Z [2026-12-07 23:30:01] simulator: compile end. elapsed=1.50 s",
    ].join("\n");
    expect(summarizeBootLog(miss)).toMatchObject({ compileCacheHit: false, phases: [{ phase: "weightsLoad" }, { phase: "compile", seconds: 1.5 }] });
    const hit = "2026-12-07T23:30:00.100Z [2026-12-07 23:30:00] simulator: compile cache hit: /cache/sim/compile/k.done";
    expect(summarizeBootLog(hit)).toMatchObject({ compileCacheHit: true, phases: [{ phase: "compile", seconds: 0 }] });
  });

  it("orders events by time whatever order docker interleaved the ranks' streams in", () => {
    const shuffled = COLD_BOOT.split("\n").reverse().join("\n");
    expect(summarizeBootLog(shuffled)).toEqual(summarizeBootLog(COLD_BOOT));
    expect(bootLogEvents(shuffled).map((e) => e.atMs)).toEqual([...bootLogEvents(shuffled).map((e) => e.atMs)].sort((a, b) => a - b));
  });

  it("a container that restarted: only the last boot's phases, even while it is still loading", () => {
    // The first boot an hour earlier (same lines), the second one is COLD_BOOT.
    const firstBoot = COLD_BOOT.split("\n").map((line) => line.replace("T23:", "T22:").replace(" 23:", " 22:"));
    const secondBoot = COLD_BOOT.split("\n");
    const both = `${firstBoot.join("\n")}\n${secondBoot.join("\n")}`;
    expect(summarizeBootLog(firstBoot.join("\n")).readyAt).toBe("2026-12-07T22:34:41.500Z");
    expect(summarizeBootLog(both)).toEqual(summarizeBootLog(secondBoot.join("\n")));
    const stillLoading = `${firstBoot.join("\n")}\n${secondBoot.filter((l) => /Load weight begin/.test(l)).join("\n")}`;
    expect(summarizeBootLog(stillLoading).phases.map((p) => [p.phase, p.end])).toEqual([["weightsLoad", undefined]]);
    expect(summarizeBootLog(stillLoading).readyAt).toBeUndefined();
  });

  it("an empty or unrelated log gives no phases", () => {
    expect(summarizeBootLog("")).toEqual({ phases: [] });
    expect(summarizeBootLog("hello\r\nworld\r\n")).toEqual({ phases: [] });
  });
});

describe("BOOT_LOG_GREP", () => {
  it("grep -E with it keeps exactly the marker lines: the same summary, and no server_args (API key) line", () => {
    const simulator = [
      "2026-12-07T23:40:00.000Z [2026-12-07 23:40:00] simulator: compile cache miss: /c/m absent, compiling for 2.00 s",
      "2026-12-07T23:40:02.000Z [2026-12-07 23:40:02] simulator: compile end. elapsed=2.00 s",
      "2026-12-07T23:40:02.000Z [2026-12-07 23:40:02 TP0] Capture target prefill CUDA graph begin. backend=full",
    ];
    const log = `${COLD_BOOT}\n${simulator.join("\n")}\n`;
    expect(BOOT_LOG_GREP).not.toContain("'");
    const grep = spawnSync("grep", ["-E", BOOT_LOG_GREP], { input: log, encoding: "utf8", timeout: 10_000 });
    expect(grep.status).toBe(0);
    expect(grep.stdout).not.toContain("api_key");
    expect(grep.stdout).not.toContain("Uvicorn");
    expect(grep.stdout.trim().split("\n")).toHaveLength(bootLogEvents(log).length);
    expect(summarizeBootLog(grep.stdout)).toEqual(summarizeBootLog(log));
  });
});
