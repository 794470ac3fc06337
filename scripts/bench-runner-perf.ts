/**
 * Proves the native benchmark runner is not the bottleneck: it must take ≥ 12,000 token
 * events/s in one Node process, at concurrency 32 and 256, stamping each event within 1 ms of
 * when it was sent.
 *
 * A known-timing SSE server runs as a CHILD process (its own event loop and CPU): stream i
 * sends a token event every `intervalMs` and records the wall-clock time of every write. The
 * runner's per-event arrival times (st + TTFT + cumulative ITL) are then compared with those
 * send times, after estimating the two processes' clock offset NTP-style:
 *   - delivery delay = arrival − send (transport + client event-loop lag);
 *   - ITL error      = measured gap − sent gap (what an ITL statistic would be off by).
 *
 * Reproduce: npx tsx scripts/bench-runner-perf.ts            (add --json for machine output)
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { runBenchmark, type BenchmarkResult } from "../components/benchmark/runner";
import type { SampleRequest } from "../components/benchmark/runner/dataset";
import { percentile } from "../components/benchmark/runner/stats";
import type { KnownTimingServerOptions } from "../test/fixtures/known-timing-sse/server";

const TARGET_EVENTS_PER_S = 12_000;
const SERVER_MAIN = path.join(__dirname, "..", "test", "fixtures", "known-timing-sse", "main.ts");
const COMMAND = "npx tsx scripts/bench-runner-perf.ts";

interface Scenario {
  readonly name: string;
  readonly concurrency: number;
  /** Gap between token events of one stream; demanded rate = concurrency / interval. */
  readonly intervalMs: number;
  readonly eventsPerStream: number;
  readonly numPrompts: number;
}

const SCENARIOS: readonly Scenario[] = [
  // 16,000 events/s demanded: a third above the target, at both required concurrencies.
  { name: "c32 @16k/s", concurrency: 32, intervalMs: 2, eventsPerStream: 500, numPrompts: 320 },
  { name: "c256 @16k/s", concurrency: 256, intervalMs: 16, eventsPerStream: 500, numPrompts: 512 },
  // Far more than one core can take: the ceiling of this machine (server and client share 2 cores).
  { name: "c256 flat-out", concurrency: 256, intervalMs: 1, eventsPerStream: 500, numPrompts: 512 },
];

interface ScenarioReport {
  scenario: Scenario;
  demandedEventsPerS: number;
  achievedEventsPerS: number;
  ratioToTarget: number;
  tokenEvents: number;
  durationS: number;
  failed: number;
  clientCpuPercent: number;
  /** Client CPU (user + system) per token event: the cost that bounds the runner. */
  clientCpuMicrosPerEvent: number;
  /** Events/s one fully used core could take at that cost. */
  clientCapacityEventsPerS: number;
  /** Events/s the server actually wrote (first to last write): a run below demand was server-bound. */
  serverSentEventsPerS: number;
  /** 1-minute load average before and after (other processes competing for the 2 cores). */
  loadAverage: [number, number];
  clockOffsetMs: number;
  clockUncertaintyMs: number;
  delayMs: { mean: number; p50: number; p99: number; max: number };
  absItlErrorMs: { mean: number; p50: number; p99: number; max: number };
  shareItlErrorUnder1Ms: number;
  shareDelayUnder1Ms: number;
}

function getJson<T>(port: number, urlPath: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(text) as T);
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on("error", reject);
  });
}

async function startServerProcess(options: KnownTimingServerOptions): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ["--import", "tsx", SERVER_MAIN, JSON.stringify(options)], {
    stdio: ["pipe", "pipe", "inherit"],
    cwd: path.join(__dirname, ".."),
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("known-timing server did not start within 30 s")), 30_000);
    let out = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString("utf8");
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`known-timing server exited with code ${code}`));
    });
  });
  return { child, port };
}

/** Server clock − client clock, from the exchange with the shortest round trip (NTP's estimate). */
async function clockOffset(port: number): Promise<{ offsetMs: number; uncertaintyMs: number }> {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 40; i++) {
    const t0 = performance.timeOrigin + performance.now();
    const { epochMs } = await getJson<{ epochMs: number }>(port, "/clock");
    const t1 = performance.timeOrigin + performance.now();
    if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: epochMs - (t0 + t1) / 2 };
  }
  return { offsetMs: best.offset, uncertaintyMs: best.rtt / 2 };
}

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    mean: values.reduce((a, b) => a + b, 0) / Math.max(1, values.length),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : 0,
  };
}

function analyse(
  scenario: Scenario,
  result: BenchmarkResult,
  sendTimes: Record<string, number[]>,
  offsetMs: number,
  cpuMicros: number,
  uncertaintyMs: number,
  loadAverage: [number, number],
): ScenarioReport {
  const delays: number[] = [];
  const itlErrors: number[] = [];
  let events = 0;
  for (const r of result.requests) {
    events += r.tokenEvents;
    if (!r.success) continue;
    const sent = sendTimes[r.requestId];
    if (!sent || sent.length !== r.itlMs.length + 1) throw new Error(`request ${r.requestId}: ${sent?.length} sends vs ${r.itlMs.length + 1} events`);
    let arrival = r.startEpochMs + r.ttftMs;
    delays.push(arrival - (sent[0] - offsetMs));
    for (let k = 1; k < sent.length; k++) {
      const gap = r.itlMs[k - 1];
      arrival += gap;
      delays.push(arrival - (sent[k] - offsetMs));
      itlErrors.push(Math.abs(gap - (sent[k] - sent[k - 1])));
    }
  }
  const durationS = result.metrics.durationS;
  const achieved = events / durationS;
  let firstSend = Infinity;
  let lastSend = -Infinity;
  let sends = 0;
  for (const times of Object.values(sendTimes)) {
    sends += times.length;
    for (const t of times) {
      if (t < firstSend) firstSend = t;
      if (t > lastSend) lastSend = t;
    }
  }
  return {
    scenario,
    demandedEventsPerS: (scenario.concurrency * 1000) / scenario.intervalMs,
    achievedEventsPerS: achieved,
    ratioToTarget: achieved / TARGET_EVENTS_PER_S,
    tokenEvents: events,
    durationS,
    failed: result.metrics.failed,
    clientCpuPercent: (cpuMicros / 1000 / (durationS * 1000)) * 100,
    clientCpuMicrosPerEvent: cpuMicros / Math.max(1, events),
    clientCapacityEventsPerS: (1e6 * Math.max(1, events)) / Math.max(1, cpuMicros),
    serverSentEventsPerS: sends / Math.max(1e-9, (lastSend - firstSend) / 1000),
    loadAverage,
    clockOffsetMs: offsetMs,
    clockUncertaintyMs: uncertaintyMs,
    delayMs: summary(delays),
    absItlErrorMs: summary(itlErrors),
    shareItlErrorUnder1Ms: itlErrors.filter((e) => e < 1).length / Math.max(1, itlErrors.length),
    shareDelayUnder1Ms: delays.filter((d) => d < 1).length / Math.max(1, delays.length),
  };
}

async function runScenario(s: Scenario): Promise<ScenarioReport> {
  const { child, port } = await startServerProcess({ firstEventDelayMs: 2, intervalMs: s.intervalMs, eventsPerStream: s.eventsPerStream, recordSendTimes: true, contentChars: 4 });
  try {
    const { offsetMs, uncertaintyMs } = await clockOffset(port);
    // Prompts are irrelevant here; a prebuilt dataset keeps the tokenizer out of the measurement.
    const dataset: SampleRequest[] = Array.from({ length: s.numPrompts }, (_, index) => ({ index, prompt: `p${index}`, promptLen: 1, expectedOutputLen: s.eventsPerStream, tokenMismatch: 0 }));
    const loadBefore = os.loadavg()[0];
    const cpuBefore = process.cpuUsage();
    const result = await runBenchmark({
      baseUrl: `http://127.0.0.1:${port}`,
      servedModelName: "perf",
      dataset,
      maxConcurrency: s.concurrency,
      requestTimeoutMs: 120_000,
      totalTimeoutMs: 300_000,
    });
    const cpu = process.cpuUsage(cpuBefore);
    const sendTimes = await getJson<Record<string, number[]>>(port, "/timings");
    return analyse(s, result, sendTimes, offsetMs, cpu.user + cpu.system, uncertaintyMs, [loadBefore, os.loadavg()[0]]);
  } finally {
    child.kill("SIGTERM");
  }
}

function table(reports: ScenarioReport[]): string {
  const f = (n: number, d = 2) => n.toFixed(d);
  const n = (x: number) => Math.round(x).toLocaleString("en-US");
  const head =
    "| scenario | demanded ev/s | server sent ev/s | received ev/s | vs 12,000/s | client CPU | µs CPU/event | client capacity ev/s/core | vs 12,000/s | load avg | failed | delay p50 / p99 / max (ms) | ITL error mean / p99 / max (ms) | ITL err < 1 ms |";
  const sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|---:|";
  const rows = reports.map(
    (r) =>
      `| ${r.scenario.name} | ${n(r.demandedEventsPerS)} | ${n(r.serverSentEventsPerS)} | ${n(r.achievedEventsPerS)} | ${f(r.ratioToTarget)}× | ${f(r.clientCpuPercent, 0)}% | ` +
      `${f(r.clientCpuMicrosPerEvent, 1)} | ${n(r.clientCapacityEventsPerS)} | ${f(r.clientCapacityEventsPerS / TARGET_EVENTS_PER_S, 1)}× | ${f(r.loadAverage[0], 1)}→${f(r.loadAverage[1], 1)} | ${r.failed} | ` +
      `${f(r.delayMs.p50, 3)} / ${f(r.delayMs.p99, 3)} / ${f(r.delayMs.max, 1)} | ${f(r.absItlErrorMs.mean, 3)} / ${f(r.absItlErrorMs.p99, 3)} / ${f(r.absItlErrorMs.max, 1)} | ${f(r.shareItlErrorUnder1Ms * 100, 2)}% |`,
  );
  return [head, sep, ...rows].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: "boolean", default: false }, only: { type: "string" } }, strict: true });
  const chosen = values.only ? SCENARIOS.filter((s) => s.name.startsWith(values.only as string)) : SCENARIOS;
  const reports: ScenarioReport[] = [];
  for (const s of chosen) {
    process.stderr.write(`running ${s.name}: ${s.numPrompts} streams × ${s.eventsPerStream} events, concurrency ${s.concurrency}, one event per ${s.intervalMs} ms per stream ...\n`);
    reports.push(await runScenario(s));
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${table(reports)}\n\n`);
  process.stdout.write(
    `delay = client arrival stamp − server write time (clock offset ${reports.map((r) => f3(r.clockOffsetMs)).join(", ")} ms, ± ${reports.map((r) => f3(r.clockUncertaintyMs)).join(", ")} ms);\n` +
      `ITL error = |measured gap − sent gap|. client capacity = events/s one core sustains at the measured CPU cost per event.\n` +
      `Node ${process.version}, ${os.cpus().length} CPUs; server in a child process; load avg = other processes competing for the CPUs.\n` +
      `Reproduce: ${COMMAND}\n`,
  );
}

function f3(n: number): string {
  return n.toFixed(3);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-runner-perf failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
