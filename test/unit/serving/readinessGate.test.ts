import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { renderReadinessGateScript, validateReadinessGate, type ReadinessGateOptions } from "../../../components/serving/readinessGate";
import { FAST_TIMING, type RunningSimulator, type SimulatorOptions, startSimulator } from "../../fixtures/sglang-simulator";
import { installFakeShellClock, type FakeShellClock } from "../../fixtures/fakeShellClock";
import { secretStdinLine } from "../../fixtures/stdinScript";

const API_KEY = "sk-gate-test-7f3a";
let sim: RunningSimulator | undefined;
let root: string;
let bin: string;
/** For the bounded waits: the gate's `date` and `sleep` on a virtual clock (its curls stay real). */
let clock: FakeShellClock;

beforeAll(() => {
  // A fake `docker` so the failure path's `docker logs --tail 50` has something to show, including
  // a line with the key (SGLang logs its server args) to prove the gate redacts it. `inspect` of the
  // container's state walks through $FAKE_STATES (`status|health|exit-code|restarts|error`, one per
  // call, the last repeats; `gone` = no such container); default: running and starting.
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-gate-test-"));
  bin = path.join(root, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(
    path.join(bin, "docker"),
    `#!/usr/bin/env bash
printf '%s\\0' "$@" >> "$FAKE_LOG"; printf '\\n' >> "$FAKE_LOG"
case "$1" in
  inspect)
    case "$3" in *StartedAt*) echo "2026-01-01T00:00:00.123456789Z"; exit 0 ;; esac
    n=$(cat "$FAKE_LOG.n" 2>/dev/null || echo 0); echo $(( n + 1 )) > "$FAKE_LOG.n"
    IFS=',' read -r -a states <<< "\${FAKE_STATES:-running|starting|0|0|}"
    st="\${states[$(( n < \${#states[@]} ? n : \${#states[@]} - 1 ))]}"
    if [ "$st" = gone ]; then echo "Error: No such object: $4" >&2; exit 1; fi
    echo "$st" ;;
  logs) echo "server_args=ServerArgs(api_key='${API_KEY}', port=8000)"; echo "Capturing CUDA graphs ..." ;;
esac
`,
    { mode: 0o755 },
  );
  clock = installFakeShellClock(root);
});
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function startSim(opts: SimulatorOptions): Promise<RunningSimulator> {
  sim = await startSimulator({ servedModelName: "qwen", timing: FAST_TIMING, apiKey: API_KEY, tokenizer: "estimate", ...opts });
  return sim;
}

/**
 * Runs the gate as remote.Command/local.Command would: `bash -c <script>`, key on stdin. With
 * `fakeClock`, the gate's own time (`date`, `sleep`) is virtual and `seconds` is gate time.
 */
function runGate(
  opts: ReadinessGateOptions,
  stdin: string,
  fakeClock = false,
  dockerEnv: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number; dockerArgv: string }> {
  const log = path.join(root, `docker-${process.pid}-${Math.random()}.log`);
  fs.writeFileSync(log, "");
  const clockEnv = fakeClock ? clock.env() : {};
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", renderReadinessGateScript(opts)], {
      env: { PATH: `${fakeClock ? `${clock.binDir}:` : ""}${bin}:${process.env.PATH}`, SHLVL: "1", FAKE_LOG: log, ...clockEnv, ...dockerEnv },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(killer);
      const seconds = fakeClock ? clock.elapsedSeconds() : (performance.now() - started) / 1000;
      resolve({ code, stdout, stderr, seconds, dockerArgv: fs.readFileSync(log, "utf8") });
    });
    child.stdin.on("error", () => undefined); // the gate may exit before reading stdin
    child.stdin.end(stdin);
  });
}

describe("readiness gate against the simulator", () => {
  it("healthy path: waits through refusing/warming, checks models and a completion", async () => {
    const s = await startSim({ timing: { ...FAST_TIMING, loadMs: 1500, refuseConnectionsMs: 700 } });
    const r = await runGate({ baseUrl: s.baseUrl, servedModelName: "qwen", containerName: "hgx-test-sglang", timeoutSeconds: 30, pollIntervalSeconds: 1 }, secretStdinLine(API_KEY));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^TIMELINE gate_start \S+Z$/m);
    expect(r.stdout).toContain("TIMELINE container_started 2026-01-01T00:00:00.123456789Z");
    for (const ev of ["health_ok", "models_ok", "ready"]) expect(r.stdout).toMatch(new RegExp(`^TIMELINE ${ev} \\S+Z$`, "m"));
    expect(r.stdout).toMatch(/^READY model=qwen url=http:\/\/127\.0\.0\.1:\d+ seconds=\d+$/m);
    const stats = await s.stats();
    expect(stats.requestsCompleted).toBe(1);
    expect(stats.unauthorized).toBe(0);
    expect(r.stdout + r.dockerArgv).not.toContain(API_KEY);
  });

  it("a server that never becomes healthy fails clearly within the bounded wait, with redacted logs", async () => {
    const s = await startSim({ faults: { neverHealthy: true } });
    await s.whenListening; // gate time is virtual: it must meet the 503 phase from its first poll
    const r = await runGate({ baseUrl: s.baseUrl, servedModelName: "qwen", containerName: "hgx-test-sglang", timeoutSeconds: 4, pollIntervalSeconds: 1, progressEverySeconds: 1 }, secretStdinLine(API_KEY), true);
    expect(r.code).toBe(1);
    // Gave up exactly at its limit, having polled (and said so) once a second.
    expect(r.seconds).toBe(4);
    expect(r.stderr).toMatch(/readiness gate FAILED after 4s \(limit 4s\) for http:\/\/127\.0\.0\.1:\d+, model qwen: \/health never returned 200 \(last: HTTP 503/);
    // A line at once (the container's state is new), then one a second; each with the state and last log line.
    const progress = r.stdout.split("\n").filter((l) => l.startsWith("waiting for "));
    expect(progress.map((l) => /after (\d+)s of 4s/.exec(l)?.[1])).toEqual(["0", "1", "2", "3"]);
    for (const line of progress) expect(line).toMatch(/HTTP 503 after \d+s of 4s; container=running health=starting; last log: Capturing CUDA graphs \.\.\.$/);
    expect(r.stderr).toContain("--- docker logs --tail 50 hgx-test-sglang ---");
    expect(r.stderr).toContain("Capturing CUDA graphs");
    expect(r.stderr).toContain("api_key='[redacted]'");
    expect(r.stderr + r.stdout).not.toContain(API_KEY);
    expect(r.dockerArgv.split("\n").some((l) => l.startsWith("logs\0--tail\x0050\0hgx-test-sglang"))).toBe(true);
  });

  it("prints a progress line only when the container's state changes, or once an interval", async () => {
    const s = await startSim({ faults: { neverHealthy: true } });
    await s.whenListening;
    const states = ["running|starting|0|0|", "running|starting|0|0|", "running|starting|0|0|", "running|unhealthy|0|0|", "running|unhealthy|0|0|"].join(",");
    const r = await runGate(
      { baseUrl: s.baseUrl, servedModelName: "qwen", containerName: "hgx-test-sglang", timeoutSeconds: 5, pollIntervalSeconds: 1, progressEverySeconds: 3600 },
      secretStdinLine(API_KEY),
      true,
      { FAKE_STATES: states },
    );
    expect(r.code).toBe(1);
    const progress = r.stdout.split("\n").filter((l) => l.startsWith("waiting for "));
    expect(progress.map((l) => /container=\S+ health=(\S+);/.exec(l)?.[1])).toEqual(["starting", "unhealthy"]);
    expect(r.stdout).not.toContain(API_KEY);
  });

  // The container is lost while booting: the gate fails at the next poll (virtual time: 1 s after
  // the change, however long the boot timeout), with Docker's verdict and the redacted logs.
  it.each([
    ["stops (exit code)", "running|starting|0|0|,exited|-|137|0|", /the container stopped during boot \(status=exited exit-code=137\)/],
    ["cannot be started by Docker", "created|-|128|0|error setting rlimit type 8: operation not permitted", /Docker could not start the container: error setting rlimit type 8: operation not permitted/],
    ["crash-restarts", "running|starting|0|0|,running|starting|1|1|", /crashed during boot and Docker restarted it \(restart count 0 -> 1, last exit-code=1\)/],
    ["is removed or replaced", "running|starting|0|0|,gone", /the container hgx-test-sglang is gone \(Error: No such object: hgx-test-sglang\); it was removed or replaced/],
  ])("fails within one poll when the container %s", async (_what, states, message) => {
    const s = await startSim({ faults: { neverHealthy: true } });
    await s.whenListening;
    const r = await runGate(
      { baseUrl: s.baseUrl, servedModelName: "qwen", containerName: "hgx-test-sglang", timeoutSeconds: 6300, pollIntervalSeconds: 1 },
      secretStdinLine(API_KEY),
      true,
      { FAKE_STATES: states },
    );
    expect(r.code).toBe(1);
    expect(r.seconds).toBe(states.includes(",") ? 1 : 0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("--- docker logs --tail 50 hgx-test-sglang ---");
    expect(r.stderr).toContain("api_key='[redacted]'");
    expect(r.stderr + r.stdout).not.toContain(API_KEY);
  });

  it("a port that never opens also fails within the bound", async () => {
    const s = await startSim({});
    const url = s.baseUrl;
    await s.close();
    const r = await runGate({ baseUrl: url, servedModelName: "qwen", timeoutSeconds: 3, pollIntervalSeconds: 1 }, "", true);
    expect(r.code).toBe(1);
    expect(r.seconds).toBe(3);
    expect(r.stderr).toMatch(/\/health never returned 200 \(last: HTTP 000/);
  });

  it("wrong served name: fails fast and shows what /v1/models listed", async () => {
    const s = await startSim({ servedModelName: "qwen-other" });
    await s.whenHealthy;
    const r = await runGate({ baseUrl: s.baseUrl, servedModelName: "qwen", timeoutSeconds: 30, pollIntervalSeconds: 1 }, secretStdinLine(API_KEY), true);
    expect(r.code).toBe(1);
    expect(r.seconds).toBe(0); // no waiting: a wrong name does not get better by polling
    expect(r.stderr).toMatch(/\/v1\/models does not list the served name "qwen" \(saw: .*"qwen-other".*\)\. Check --served-model-name/);
    expect(r.stdout).toContain("TIMELINE health_ok");
    expect(r.stdout).not.toContain("TIMELINE models_ok");
  });

  it("failing completion: retries a bounded number of times, then reports the last answer", async () => {
    const s = await startSim({ faults: { errorEvery: 1 } });
    const r = await runGate({ baseUrl: s.baseUrl, servedModelName: "qwen", timeoutSeconds: 30, pollIntervalSeconds: 1 }, secretStdinLine(API_KEY));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/chat completion failed after 3 attempt\(s\) \(last: HTTP 500/);
    expect((await s.stats()).errorsInjected).toBe(3);
    expect(r.stdout).toContain("TIMELINE models_ok");
    expect(r.stdout).not.toContain("TIMELINE ready");
  });

  it("a wrong API key is named as such", async () => {
    const s = await startSim({});
    const r = await runGate({ baseUrl: s.baseUrl, servedModelName: "qwen", timeoutSeconds: 30, pollIntervalSeconds: 1 }, secretStdinLine("not-the-key"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/v1\/models rejected the API key \(HTTP 401/);
    expect(r.stderr).not.toContain("not-the-key");
  });

  it("works without auth when the server has none", async () => {
    const s = await startSim({ apiKey: undefined });
    const r = await runGate({ baseUrl: s.baseUrl, servedModelName: "qwen", timeoutSeconds: 30, pollIntervalSeconds: 1 }, "");
    expect(r.code).toBe(0);
  });
});

describe("readiness gate script", () => {
  it("keeps the key out of the script and out of curl's argv", () => {
    const script = renderReadinessGateScript({ baseUrl: "http://127.0.0.1:8000", servedModelName: "qwen" });
    expect(script).toContain('IFS= read -r API_KEY');
    expect(script).toContain('-H "@$WORK/auth"');
    expect(spawnSync("bash", ["-n", "-c", script]).status).toBe(0);
  });

  it("validates options", () => {
    expect(validateReadinessGate({ baseUrl: "127.0.0.1:8000", servedModelName: "qwen" })[0]).toMatch(/must be an http\(s\) URL/);
    expect(validateReadinessGate({ baseUrl: "http://x", servedModelName: 'q"x' })[0]).toMatch(/without quotes/);
    expect(validateReadinessGate({ baseUrl: "http://x", servedModelName: "q", timeoutSeconds: 0 })[0]).toMatch(/timeoutSeconds 0 must be a positive integer/);
  });
});
