/**
 * `measure(level)` for the capacity search with the reference runner: the pinned vllm container run once per level
 * on the GPU host (a discarded warm-up run, then the measured run with vllm's `--goodput` from the SLOs), by the same
 * script as the fixed remote run (`renderRemoteBenchCommand`) and read by the same parser (`parseBenchmarkOutput`).
 * The search itself runs on the Pulumi machine (scripts/bench-capacity.ts `--runner remote`); each run's script goes
 * to the host over `ssh` on stdin, the API key base64-framed as its first stdin line, exactly as the command provider
 * sends the fixed run's script (`STDIN_SCRIPT_COMMAND`, `frameSecretStdin`).
 */
import { spawn } from "node:child_process";
import { frameSecretStdin, STDIN_SCRIPT_COMMAND } from "../host/connection";
import { goodputSloFor, pointMetricsFromResult, promptsAtLevel, type CapacitySlo, type LoadLevel, type PointMetrics } from "./capacity";
import { levelSeeds, sharedPrefixPrompts, warmupCount } from "./capacityNative";
import { renderRemoteBenchCommand, resultFilename, type RemoteBenchCommandOptions } from "./remoteRunner";
import { parseBenchmarkOutput } from "./resultParser";
import { assertRunnerCanRun, type BenchmarkWorkload } from "./workload";

/** The remote runner's settings every level shares (image, port, model, tokenizer, cache, result dir, docker). */
export type RemoteLevelSettings = Omit<RemoteBenchCommandOptions, "workload" | "resultFilename" | "extraBenchArgs" | "apiKeyFromStdin" | "timeoutSeconds">;

/**
 * Runs a script on the host: `stdinFirstLine` then the script go to `STDIN_SCRIPT_COMMAND`'s stdin; resolves with
 * stdout, rejects with the exit status and the end of stderr. Bounded by `timeoutMs`; `signal` ends it at once.
 */
export type ScriptExecutor = (script: string, stdinFirstLine: string, timeoutMs: number, signal?: AbortSignal) => Promise<string>;

export interface RemoteMeasureOptions {
  readonly settings: RemoteLevelSettings;
  /** The fixed run's workload; each level changes its concurrency and prompt count. */
  readonly workload: BenchmarkWorkload;
  /** Base seed; every run of the search gets its own (`levelSeeds`), as with the native runner. @default 0 */
  readonly seed?: number;
  /** SLOs whose per-request form (ttft, tpot, e2el) becomes vllm's `--goodput`. */
  readonly slo?: CapacitySlo;
  /** @default "concurrency" (one full wave at the level) */
  readonly warmupRequests?: number | "concurrency";
  /** @default every level sends the workload's numPrompts */
  readonly promptsPerConcurrency?: number;
  /** Limit on one container run, seconds (never more than what is left of the search's time cap). */
  readonly levelTimeoutSeconds: number;
  /** Server API key: the first stdin line, handed to the container by name (never on a command line). */
  readonly apiKey?: string;
  readonly exec: ScriptExecutor;
  readonly signal?: AbortSignal;
  /** Progress: a run is starting. */
  readonly onRun?: (phase: "warm-up" | "measure", level: LoadLevel, requests: number) => void;
}

/** vllm's `--goodput KEY:MS ...` for the SLOs' per-request form; empty without a ttft/tpot/e2el SLO. */
export function vllmGoodputArgs(slo: CapacitySlo | undefined): string[] {
  const g = slo ? goodputSloFor(slo) : undefined;
  if (!g) return [];
  return ["--goodput", ...Object.entries(g).map(([key, ms]) => `${key}:${ms}`)];
}

/** The per-run flags vllm takes beyond the workload: its seed, and a finite request rate with its burstiness. */
export function vllmLevelArgs(level: LoadLevel, seed: number): string[] {
  return [
    "--seed", String(seed),
    ...(Number.isFinite(level.requestRate) ? ["--request-rate", String(level.requestRate), "--burstiness", String(level.burstiness)] : []),
  ];
}

/**
 * Prompts a level sends: with shared prefixes, rounded down to a multiple of the prefixes (at least one each), the
 * count vllm sends; the result is then read against what was really sent.
 */
export function remotePromptsAtLevel(o: Pick<RemoteMeasureOptions, "workload" | "promptsPerConcurrency">, level: LoadLevel): number {
  return sharedPrefixPrompts(promptsAtLevel({ numPrompts: o.workload.numPrompts, promptsPerConcurrency: o.promptsPerConcurrency }, level), o.workload.prefixRepetition?.numPrefixes);
}

/** The two scripts of the n-th level of a search (0-based): the warm-up (undefined with 0 warm-up requests) and the measured run. */
export function remoteLevelScripts(o: Omit<RemoteMeasureOptions, "exec" | "signal" | "onRun">, level: LoadLevel, n: number, timeoutSeconds: number): { warmup: string | undefined; measured: string } {
  const seeds = levelSeeds(o.seed ?? 0, n);
  const warmups = warmupCount(o.warmupRequests, level, o.workload.numPrompts);
  const measuredWorkload: BenchmarkWorkload = {
    ...o.workload,
    numPrompts: remotePromptsAtLevel(o, level),
    maxConcurrency: level.concurrency,
    // The search judges p99 of all four.
    percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
    metricPercentiles: [...new Set([...o.workload.metricPercentiles, 50, 90, 99])].sort((a, b) => a - b),
  };
  const common = { ...o.settings, apiKeyFromStdin: o.apiKey !== undefined, timeoutSeconds };
  const file = (w: BenchmarkWorkload, suffix: string) => `capacity-${resultFilename(o.settings.servedModelName, w).replace(/\.json$/, "")}${suffix}.json`;
  // Random prompts of the same length: a shared-prefix warm-up would need a request per prefix (see warmupDataset).
  const { prefixRepetition: _shared, ...randomWorkload } = o.workload;
  const warmupWorkload: BenchmarkWorkload = { ...randomWorkload, numPrompts: Math.max(1, warmups), maxConcurrency: level.concurrency };
  return {
    warmup:
      warmups > 0
        ? renderRemoteBenchCommand({ ...common, workload: warmupWorkload, resultFilename: file(warmupWorkload, "-warmup"), extraBenchArgs: ["--seed", String(seeds.warmup)] })
        : undefined,
    measured: renderRemoteBenchCommand({
      ...common,
      workload: measuredWorkload,
      resultFilename: file(measuredWorkload, ""),
      extraBenchArgs: [...vllmLevelArgs(level, seeds.measured), ...vllmGoodputArgs(o.slo)],
    }),
  };
}

/** A `measure` function for `searchCapacity` that runs the pinned vllm container on the host once per level. */
export function remoteMeasure(o: RemoteMeasureOptions): (level: LoadLevel, info: { readonly remainingS: number }) => Promise<PointMetrics> {
  // Before the search starts, not at its first level.
  assertRunnerCanRun(o.workload, "remote");
  let runs = 0;
  return async (level, info) => {
    const n = runs;
    runs += 1;
    const left = Number.isFinite(info.remainingS) ? Math.max(1, Math.floor(info.remainingS)) : Infinity;
    const timeoutSeconds = Math.max(1, Math.min(o.levelTimeoutSeconds, left));
    const scripts = remoteLevelScripts(o, level, n, timeoutSeconds);
    // The script's own limits: the container's timeout plus its pull limit (1800 s) and a minute to spare.
    const execLimitMs = (timeoutSeconds + 1800 + 60) * 1000;
    const first = o.apiKey ?? "";
    if (scripts.warmup !== undefined) {
      o.onRun?.("warm-up", level, warmupCount(o.warmupRequests, level, o.workload.numPrompts));
      await o.exec(scripts.warmup, first, execLimitMs, o.signal);
    }
    const prompts = remotePromptsAtLevel(o, level);
    o.onRun?.("measure", level, prompts);
    const stdout = await o.exec(scripts.measured, first, execLimitMs, o.signal);
    const metrics = parseBenchmarkOutput(stdout, { source: `the remote runner's result at concurrency ${level.concurrency} (vllm bench serve)`, numPrompts: prompts });
    return pointMetricsFromResult(metrics);
  };
}

/** The environment variable that hands the SSH private key to `scripts/bench-capacity.ts --ssh` (never a flag). */
export const SSH_KEY_ENV = "HGX_SSH_PRIVATE_KEY";
/**
 * The environment variable that hands the host's pinned key to `scripts/bench-capacity.ts --ssh`, as a known_hosts
 * line; without it ssh checks the user's own known_hosts (never trust on first use).
 */
export const SSH_KNOWN_HOSTS_ENV = "HGX_SSH_KNOWN_HOSTS";

/** Where and how to reach the host (`ssh`), with the private key in a file only this user reads. */
export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly keyFile: string;
  /** A known_hosts file holding the host's pinned key; undefined = the user's own known_hosts. */
  readonly knownHostsFile?: string;
}

/**
 * `ssh` arguments that run `STDIN_SCRIPT_COMMAND` on the host: the host key checked strictly against the pinned key
 * (the same one the command and Docker providers pin), never a password prompt.
 */
export function sshArgs(t: SshTarget): string[] {
  return [
    "-i", t.keyFile,
    "-p", String(t.port),
    "-o", "BatchMode=yes",
    "-o", "IdentitiesOnly=yes",
    "-o", "StrictHostKeyChecking=yes",
    ...(t.knownHostsFile === undefined ? [] : ["-o", `UserKnownHostsFile=${t.knownHostsFile}`]),
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=30",
    "-o", "ServerAliveInterval=30",
    "-o", "ServerAliveCountMax=4",
    `${t.user}@${t.host}`,
    STDIN_SCRIPT_COMMAND,
  ];
}

/**
 * A `ScriptExecutor` running `file args…` (`ssh … STDIN_SCRIPT_COMMAND`, or `bash -c STDIN_SCRIPT_COMMAND` on this
 * machine). The script's stderr (the container's console) is passed to `onStderr`; the end of it names a failure.
 */
export function processExecutor(file: string, args: readonly string[], onStderr: (chunk: string) => void = (c) => process.stderr.write(c)): ScriptExecutor {
  return (script, first, timeoutMs, signal) =>
    new Promise<string>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new Error("aborted before the run started"));
        return;
      }
      // Its own process group, so an overrun or abort ends the script's children too (a `sleep`, a `docker run`).
      const child = spawn(file, [...args], { stdio: ["pipe", "pipe", "pipe"], detached: true });
      const kill = (sig: NodeJS.Signals) => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, sig);
        } catch {
          child.kill(sig);
        }
      };
      const out: Buffer[] = [];
      let errTail = "";
      let why: string | undefined;
      const stop = (reason: string) => {
        why ??= reason;
        kill("SIGTERM");
        setTimeout(() => kill("SIGKILL"), 10_000).unref();
      };
      const timer = setTimeout(() => stop(`no end within ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
      const onAbort = () => stop("aborted");
      signal?.addEventListener("abort", onAbort, { once: true });
      child.stdout.on("data", (c: Buffer) => out.push(c));
      child.stderr.on("data", (c: Buffer) => {
        const text = c.toString("utf8");
        errTail = (errTail + text).slice(-2000);
        onStderr(text);
      });
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${file}: ${e.message}`));
      });
      const settle = (code: number | null, sig: NodeJS.Signals | null) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (code === 0 && why === undefined) resolve(Buffer.concat(out).toString("utf8"));
        else reject(new Error(`${file} ${why ?? `exited with ${code ?? sig}`}: ${errTail.trim().split("\n").slice(-5).join(" | ")}`));
      };
      child.on("close", settle);
      // A stopped run ends when its process does: a grandchild in a process group of its own (`timeout` makes one)
      // may hold the pipes open, and the caller's clean-up (removing the container) must not wait for it.
      child.on("exit", (code, sig) => {
        if (why === undefined) return;
        child.stdout.destroy();
        child.stderr.destroy();
        settle(code, sig);
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(frameSecretStdin(first, script));
    });
}

/** `user@host[:port]` (port default 22); throws naming the value and the fix. */
export function parseSshDestination(raw: string): { user: string; host: string; port: number } {
  const m = /^([^@\s]+)@(\[[^\]]+\]|[^:\s]+)(?::(\d+))?$/.exec(raw.trim());
  const port = m?.[3] === undefined ? 22 : Number(m[3]);
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`--ssh ${JSON.stringify(raw)} is not USER@HOST[:PORT]. Fix: e.g. --ssh ubuntu@203.0.113.7:22.`);
  }
  return { user: m[1], host: m[2].replace(/^\[|\]$/g, ""), port };
}
