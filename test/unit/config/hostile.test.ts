/**
 * Hostile values for every setting that reaches a shell, an SSH command line, a URL or a vendor
 * API. Each payload would create a marker file if a shell ever executed it. For every (setting,
 * payload) pair the stack either refuses the value in its up-front validation, naming the key, or
 * — where the setting is legitimately free-form (a cache path, extra SGLang arguments, flag values,
 * secrets) — the commands it reaches are rendered from that config the way the components render
 * them and actually run with /bin/sh + bash on this machine, with stand-in `docker`, `python` and
 * `npx` that record their arguments; the marker must not exist afterwards, and the recorded
 * arguments must hold the payload verbatim (it arrived as data, not as code).
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveBenchmarkSettings } from "../../../components/benchmark/benchmark";
import { renderNativeBenchCommand } from "../../../components/benchmark/nativeCommand";
import { renderRemoteBenchCommand } from "../../../components/benchmark/remoteRunner";
import { ConfigValidationError, type RawConfig, type StackConfig } from "../../../components/config";
import { renderDockerRunCommand, shellQuote } from "../../../components/serving/containerSpec";
import { API_KEY_WRAPPER_SCRIPT } from "../../../components/serving/sglang/engine";
import { renderReadinessGateScript } from "../../../components/serving/readinessGate";
import { planServing, type ServingPlan } from "../../../components/serving/servingPlan";
import { servingPlanInputFor } from "../../../components/serving/sglangServer";
import { renderWeightsDownloadScript } from "../../../components/serving/weights";
import { benchmarkArgsFor, parseWithLayerChecks, serverArgsFor } from "../../../components/stack";
import { TEST_HOST_PUBLIC_KEY } from "../../fixtures/hostKeys";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-hostile-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Stand-ins that record argv (one argument per line, NUL-free) and read their stdin to the end. */
const bin = path.join(work, "bin");
const argLog = path.join(work, "argv.log");
fs.mkdirSync(bin);
for (const tool of ["docker", "python", "npx"]) {
  fs.writeFileSync(path.join(bin, tool), `#!/bin/bash\nprintf '%s\\n' "${tool}" "$@" >> ${shellQuote(argLog)}\ncat >/dev/null\nexit 0\n`, { mode: 0o755 });
}

/** The ways a payload tries to escape into a shell; each creates `marker` if it ever runs. */
function payloads(marker: string): Record<string, string> {
  return {
    "command substitution": `$(touch ${marker})`,
    backticks: `\`touch ${marker}\``,
    semicolon: `;touch ${marker}`,
    "closing a single quote": `'; touch ${marker}; '`,
    "closing a double quote": `"; touch ${marker}; "`,
    pipe: `|touch ${marker}`,
    "and-list": `&& touch ${marker}`,
    newline: `\ntouch ${marker}`,
    "leading dash option": `-oProxyCommand=touch ${marker}`,
  };
}

/** A command as the components hand it to a shell: the text, and what arrives on stdin / in the environment. */
interface Reached {
  readonly what: string;
  readonly command: string;
  readonly stdin?: string;
  readonly env?: Readonly<Record<string, string>>;
}

const lambdaBase: RawConfig = { hostMode: "lambda", lambdaApiKey: "sk-test-not-a-real-key" };
const existingBase: RawConfig = { hostMode: "existing", sshHost: "10.0.0.5", sshPrivateKey: "k", sshHostKey: TEST_HOST_PUBLIC_KEY };
const localBase: RawConfig = { hostMode: "local", sglangImage: "hgx/sglang-sim:local", benchmarkRunner: "native" };

function plan(config: StackConfig): ServingPlan {
  const args = serverArgsFor(config, "hgx", { connection: { kind: "local" }, readyAt: "", gpuCount: config.gpuCount });
  const input = servingPlanInputFor(args, { project: config.project, stack: config.stack });
  const result = planServing(input);
  if (!result.plan) throw new Error(result.errors.join("\n"));
  return result.plan;
}

/** `bash -c '<script>'`, exactly the text the serving layer's host commands run. */
const bashC = (script: string) => `bash -c ${shellQuote(script)}`;

/** What the SglangServer's host commands and its docker run line are, for this config. */
function servingCommands(config: StackConfig, secrets: { apiKey?: string; hfToken?: string } = {}): Reached[] {
  const p = plan(config);
  const name = `${config.project}-${config.stack}-hgx-sglang`;
  const out: Reached[] = [
    { what: "docker run line", command: renderDockerRunCommand(p.spec) },
    {
      what: "readiness gate",
      command: bashC(renderReadinessGateScript({ baseUrl: "http://127.0.0.1:9", servedModelName: p.servedModelName, containerName: name, timeoutSeconds: 1, pollIntervalSeconds: 1 })),
      stdin: `${secrets.apiKey ?? ""}\n`,
    },
  ];
  if (config.hostMode !== "local") {
    out.push({
      what: "weights download",
      command: bashC(renderWeightsDownloadScript({ model: p.flags.modelPath, cacheMount: p.cacheMount, containerName: `${name}-weights`, progressIntervalSeconds: 60 })),
      stdin: `${secrets.hfToken ?? ""}\n`,
    });
  }
  // The container's own command runs without a shell, except the API key wrapper: run that with sh.
  if (p.spec.command[0] === "sh") out.push({ what: "api key wrapper", command: `sh -c ${shellQuote(API_KEY_WRAPPER_SCRIPT)} ${p.spec.command.slice(3).map(shellQuote).join(" ")}`, env: { SGLANG_API_KEY: secrets.apiKey ?? "k" } });
  return out;
}

/** The Benchmark's runner command for this config. */
function benchmarkCommands(config: StackConfig, secrets: { apiKey?: string } = {}): Reached[] {
  const p = plan(config);
  const connection = config.hostMode === "local" ? ({ kind: "local" } as const) : ({ kind: "ssh", host: "h", port: 22, user: "u", privateKey: "k", hostKey: TEST_HOST_PUBLIC_KEY } as const);
  const args = benchmarkArgsFor(config, { host: { connection, hourlyPriceUsd: 0 }, server: { endpoint: "http://127.0.0.1:9", servedModelName: p.servedModelName, specHash: "x" } });
  const s = resolveBenchmarkSettings(args);
  const command =
    s.runner === "remote"
      ? renderRemoteBenchCommand({ image: s.vllmImage, port: s.port, model: config.sglang.model, servedModelName: p.servedModelName, workload: s.workload, hfCacheDir: s.hfCacheDir, resultDir: path.join(work, "results"), timeoutSeconds: s.timeoutSeconds, apiKeyFromStdin: secrets.apiKey !== undefined, docker: s.docker })
      : renderNativeBenchCommand({ baseUrl: "http://127.0.0.1:9", servedModelName: p.servedModelName, model: config.sglang.model, workload: s.workload, timeoutSeconds: s.timeoutSeconds });
  return [{ what: `${s.runner} benchmark`, command, stdin: `${secrets.apiKey ?? ""}\n`, env: secrets.apiKey ? { OPENAI_API_KEY: secrets.apiKey } : {} }];
}

interface Row {
  readonly key: string;
  /** The stack config carrying the payload. */
  readonly raw: (payload: string) => RawConfig;
  /** Commands the value reaches when validation accepts it; none = it must be refused. */
  readonly reaches?: (config: StackConfig, payload: string) => Reached[];
}

const ROWS: Row[] = [
  // Refused: each of these has a grammar (address, name, URL, path, id) that no payload fits.
  { key: "sshHost", raw: (p) => ({ ...existingBase, sshHost: `10.0.0.5${p}` }) },
  { key: "sshHost", raw: (p) => ({ ...existingBase, sshHost: p.trim() }) },
  { key: "sshUser", raw: (p) => ({ ...existingBase, sshUser: `ubuntu${p}` }) },
  { key: "sshUser", raw: (p) => ({ ...existingBase, sshUser: p.trim() }) },
  { key: "lambdaApiUrl", raw: (p) => ({ ...lambdaBase, lambdaApiUrl: `https://cloud.lambda.ai/api/v1/${p}` }) },
  { key: "lambdaApiUrl", raw: (p) => ({ ...lambdaBase, lambdaApiUrl: `https://cloud${p}.lambda.ai/api/v1` }) },
  { key: "hfCacheVolume", raw: (p) => ({ ...localBase, hfCacheVolume: `hf-cache${p}` }) },
  { key: "lambdaFilesystemName", raw: (p) => ({ ...lambdaBase, lambdaFilesystemName: `hf-cache${p}` }) },
  { key: "lambdaImageFamily", raw: (p) => ({ ...lambdaBase, lambdaImageFamily: `gpu-base-24-04${p}` }) },
  { key: "lambdaInstanceType", raw: (p) => ({ ...lambdaBase, lambdaInstanceType: `gpu_8x_b200_sxm6${p}` }) },
  { key: "lambdaSshPublicKey", raw: (p) => ({ ...lambdaBase, lambdaSshPrivateKey: "k", lambdaSshPublicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxz me@host ${p}` }) },
  { key: "lambdaSshPublicKey", raw: (p) => ({ ...lambdaBase, lambdaSshPrivateKey: "k", lambdaSshPublicKey: `command="${p}" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxz` }) },
  { key: "lambdaRegions", raw: (p) => ({ ...lambdaBase, lambdaRegions: JSON.stringify([`us-east-1${p}`]) }) },
  { key: "lambdaFirewallAllowlist", raw: (p) => ({ ...lambdaBase, sglangApiKey: "k", lambdaFirewallAllowlist: JSON.stringify([`203.0.113.0/24${p}`]) }) },
  { key: "sglangImage", raw: (p) => ({ ...existingBase, sglangImage: `lmsysorg/sglang:v0.5.14${p}` }) },
  { key: "sglangServedModelName", raw: (p) => ({ ...existingBase, sglangServedModelName: `qwen${p}` }) },
  { key: "sglangModel", raw: (p) => ({ ...existingBase, sglangModel: `Qwen/Qwen3.5-397B-A17B${p}` }) },
  { key: "benchmarkEndpoint", raw: (p) => ({ ...existingBase, benchmarkEndpoint: `/v1/chat/completions${p}` }) },
  { key: "gpuModel", raw: (p) => ({ ...existingBase, gpuModel: `B200${p}` }) },
  { key: "hourlyPriceUsd", raw: (p) => ({ ...existingBase, hourlyPriceUsd: `45${p}` }) },
  { key: "sshHostKey", raw: (p) => ({ ...existingBase, sshHostKey: `${TEST_HOST_PUBLIC_KEY} me@host${p}` }) },
  { key: "sshHostKey", raw: (p) => ({ ...existingBase, sshHostKey: `SHA256:${p}` }) },
  { key: "sshHostKey", raw: (p) => ({ ...existingBase, sshHostKey: p.trim() }) },
  { key: "sshHostKeyTrust", raw: (p) => ({ ...existingBase, sshHostKey: "", sshHostKeyTrust: `tofu${p}` }) },
  { key: "lambdaSshAllowlist", raw: (p) => ({ ...lambdaBase, lambdaSshAllowlist: JSON.stringify([`203.0.113.0/24${p}`]) }) },
  // Free-form: a host path may hold any character but ':' and control characters; it is quoted.
  {
    key: "hfCachePath",
    raw: (p) => ({ ...existingBase, hfCachePath: `/data/hf${p}` }),
    reaches: (c) => [...servingCommands(c), ...benchmarkCommands(c)],
  },
  // Free-form SGLang arguments and flag values: argv, never a shell (but the API key wrapper is one).
  {
    key: "sglangExtraArgs",
    raw: (p) => ({ ...existingBase, sglangApiKey: "k", sglangExtraArgs: JSON.stringify(["--chat-template", p, `--tokenizer-mode=${p}`]) }),
    reaches: (c) => servingCommands(c, { apiKey: "k" }),
  },
  {
    key: "sglangFlags",
    raw: (p) => ({ ...existingBase, sglangApiKey: "k", sglangFlags: JSON.stringify({ quantization: p }) }),
    reaches: (c) => servingCommands(c, { apiKey: "k" }),
  },
  // A model path on this machine (local mode: nothing is pre-downloaded) is an absolute path.
  {
    key: "sglangModel",
    raw: (p) => ({ ...localBase, sglangModel: `/models/qwen${p}` }),
    reaches: (c) => [...servingCommands(c), ...benchmarkCommands(c)],
  },
  // Secrets: whatever their value, they travel on stdin and in the environment, as data.
  {
    key: "sglangApiKey",
    raw: (p) => ({ ...existingBase, sglangApiKey: p }),
    reaches: (c, p) => [...servingCommands(c, { apiKey: p }), ...benchmarkCommands(c, { apiKey: p })],
  },
  {
    key: "hfToken",
    raw: (p) => ({ ...existingBase, hfToken: p }),
    reaches: (c, p) => servingCommands(c, { hfToken: p }),
  },
];

/** Parses like a program does; the ConfigValidationError's problems, or the config. */
function parse(raw: RawConfig): { config?: StackConfig; problems: string[] } {
  try {
    return { config: parseWithLayerChecks(raw, { stack: "dev" }), problems: [] };
  } catch (e) {
    if (!(e instanceof ConfigValidationError)) throw e;
    return { problems: e.problems.map((p) => `${p.key}: ${p.message}`) };
  }
}

function run(reached: Reached): { status: number | null; stderr: string } {
  const r = spawnSync("/bin/sh", ["-c", reached.command], {
    input: reached.stdin ?? "",
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: work, ...reached.env },
    cwd: work,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}

const cases = ROWS.flatMap((row, index) =>
  Object.keys(payloads("m")).map((payloadName) => ({ label: `${row.key} #${index}: ${payloadName}`, row, payloadName })),
);

describe("hostile config values: refused by validation, or inert where free-form", () => {
  it.each(cases)("$label", ({ row, payloadName }) => {
    const marker = path.join(work, `pwned-${crypto.randomBytes(6).toString("hex")}`);
    const payload = payloads(marker)[payloadName]!;
    const { config, problems } = parse(row.raw(payload));
    if (config === undefined) {
      // Refused: the message names the setting that carried the payload.
      expect(problems.some((p) => p.startsWith(`${row.key}`))).toBe(true);
      return;
    }
    expect(row.reaches, `${row.key} accepted ${JSON.stringify(payload)} but is not a free-form setting`).toBeDefined();
    const reached = row.reaches!(config, payload);
    expect(reached.length).toBeGreaterThan(0);
    fs.rmSync(argLog, { force: true });
    for (const r of reached) {
      run(r);
      expect(fs.existsSync(marker), `${r.what} executed ${JSON.stringify(payload)}`).toBe(false);
    }
    // Data, not code: the stand-ins received the payload's text (secrets arrive on stdin / env instead).
    if (row.key !== "sglangApiKey" && row.key !== "hfToken") {
      const recorded = fs.readFileSync(argLog, "utf8");
      expect(recorded).toContain(payload.trim().split("\n").pop()!);
    }
  });

  it("the stand-ins are reached at all (a script that exits early would prove nothing)", () => {
    const { config } = parse({ ...existingBase, hfCachePath: "/data/hf" });
    fs.rmSync(argLog, { force: true });
    for (const r of [...servingCommands(config!), ...benchmarkCommands(config!)]) run(r);
    const recorded = fs.readFileSync(argLog, "utf8");
    expect(recorded).toContain("/data/hf/huggingface:/root/.cache/huggingface"); // weights -v and docker run -v
    expect(recorded).toContain("vllm/vllm-openai"); // the remote benchmark's docker run
  });

  it("an unquoted interpolation would have been caught: the same payload in an unquoted echo runs", () => {
    const marker = path.join(work, `pwned-${crypto.randomBytes(6).toString("hex")}`);
    run({ what: "control", command: `bash -c ${shellQuote(`echo "weights: /data/hf$(touch ${marker})"`)}` });
    expect(fs.existsSync(marker)).toBe(true);
  });
});
