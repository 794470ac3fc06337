/**
 * Must show (issue 11): the capacity search with the remote runner — the pinned vllm container once per level on the
 * GPU host — against the same search with the native runner, for the same prompts.
 *
 * The host is the real sshd test host (its login user drives the test rig's Docker engine); the vllm image is the
 * stand-in that answers `vllm bench serve`'s command line (with `--goodput`) and writes vllm's result file; the server
 * is the SGLang simulator in this process. `npm run bench:capacity` runs twice as its own process, `--runner remote
 * --ssh user@host:port` (each level's script over ssh, the key from HGX_SSH_PRIVATE_KEY) and native, with the same
 * workload, seeds and levels (SLOs met everywhere, so both visit the bracket levels 2, 4, 8 and nothing else):
 * - equal input and output token totals at every level (prompts counted on the client as vllm 0.18.0 counts them);
 * - vllm's goodput reported at every remote level; the server saw exactly the warm-ups and measured prompts;
 * - the private key never in the CLI's output, and its temporary key file gone afterwards.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CapacityPlan, CapacitySummary } from "../../../components/benchmark/capacity";
import { SSH_KEY_ENV, SSH_KNOWN_HOSTS_ENV } from "../../../components/benchmark/capacityRemote";
import { runCapacityCli, type CapacityCliRun } from "../../fixtures/benchmark/capacityCli";
import { startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";
import { startSshTestHost, type SshTestHost } from "../../fixtures/ssh-host";
import { ensureVllmStandInImage } from "../../fixtures/stand-in-images";
import { remoteResultDirCleanup } from "../engine/sshStacks";

const TIMING = { loadMs: 200, refuseConnectionsMs: 50, prefillBaseMs: 20, prefillPerTokenMs: 0.01, decodeBaseMs: 8, decodePerRunningMs: 0.05, maxRunningRequests: 64 };
const API_KEY = "sim-remote-capacity-key";

interface CliRun extends CapacityCliRun {
  tmpBefore: Set<string>;
  tmpAfter: Set<string>;
}

const tmpKeyDirs = () => new Set(fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith("hgx-capacity-ssh-")));

/** The CLI, with the key directories in the temp dir before and after (the one it makes must be gone). */
async function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CliRun> {
  const tmpBefore = tmpKeyDirs();
  const r = await runCapacityCli(args, env, timeoutMs);
  return { ...r, tmpBefore, tmpAfter: tmpKeyDirs() };
}

let sim: RunningSimulator;
let host: SshTestHost;
let image: string;
let remote: CliRun;
let native: CliRun;
let remoteOut: { plan: CapacityPlan; capacity: CapacitySummary };
let nativeOut: { plan: CapacityPlan; capacity: CapacitySummary };
let requestsAfterRemote = 0;
let cleanResults: () => void = () => undefined;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-capacity-remote-"));

beforeAll(async () => {
  cleanResults = remoteResultDirCleanup();
  host = await startSshTestHost();
  image = await ensureVllmStandInImage();
  sim = await startSimulator({ host: "127.0.0.1", servedModelName: "qwen", timing: TIMING, tokenizer: "estimate", apiKey: API_KEY });
  await sim.whenHealthy;
  const common = [
    "--base-url", sim.baseUrl,
    "--served-model-name", "qwen",
    "--model", "Qwen/Qwen3.5-397B-A17B",
    "--tokenizer", "bundled",
    "--random-input-len", "96",
    "--random-output-len", "12",
    "--num-prompts", "16",
    "--prompts-per-concurrency", "2",
    "--concurrency-range", "2:8",
    // Met everywhere (the simulator answers in ~0.1 s): both searches visit exactly the bracket levels.
    "--slo", "ttft_p99_ms=60000",
    "--slo", "e2el_p99_ms=120000",
    "--seed", "5",
    "--no-progress",
    "--json",
  ];
  const env = { ...process.env, HF_HOME: path.join(work, "hf"), OPENAI_API_KEY: API_KEY };
  remote = await runCli([...common, "--runner", "remote", "--ssh", `${host.user}@${host.host}:${host.port}`, "--vllm-image", image], { ...env, [SSH_KEY_ENV]: host.privateKey, [SSH_KNOWN_HOSTS_ENV]: `[${host.host}]:${host.port} ${host.hostPublicKey}` }, 600_000);
  requestsAfterRemote = (await sim.stats()).requestsReceived;
  native = await runCli(common, env, 300_000);
  remoteOut = JSON.parse(remote.stdout) as typeof remoteOut;
  nativeOut = JSON.parse(native.stdout) as typeof nativeOut;
}, 900_000);

afterAll(async () => {
  cleanResults();
  await sim?.close();
  await host?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe("capacity search with the remote runner (vllm container once per level, over ssh)", () => {
  it("measures every bracket level through the container and reads each with the shared parser", () => {
    expect(remote.code, `stderr:\n${remote.stderr}`).toBe(0);
    expect(remoteOut.capacity.points.map((p) => p.concurrency)).toEqual([2, 4, 8]);
    expect(remoteOut.capacity.stop).toBe("range-high-met");
    expect(remoteOut.capacity.maxConcurrency).toBe(8);
    for (const p of remoteOut.capacity.points) {
      expect(p).toMatchObject({ completed: 2 * p.concurrency, failed: 0, meetsSlo: true });
      // vllm's --goodput (ttft and e2el limits met by every request): goodput = request throughput.
      expect(p.goodput).not.toBeNull();
      expect(p.goodput as number).toBeCloseTo(p.requestsPerS, 6);
    }
    // Each level ran the container twice (warm-up, measured run), over ssh.
    expect(remote.stderr.match(/warm-up run of \d+ request\(s\) at concurrency \d+ \(vllm bench serve on 127\.0\.0\.1\)/g)).toHaveLength(3);
  });

  it("the server saw exactly the warm-ups and the measured prompts", () => {
    const sent = remoteOut.capacity.points.reduce((sum, p) => sum + p.concurrency + p.completed, 0);
    expect(requestsAfterRemote).toBe(sent);
  });

  it("equal input and output token totals to the native runner at every level, for the same prompts", () => {
    expect(native.code, `stderr:\n${native.stderr}`).toBe(0);
    expect(nativeOut.capacity.points.map((p) => p.concurrency)).toEqual([2, 4, 8]);
    const totals = (o: typeof remoteOut) => o.capacity.points.map((p) => ({ concurrency: p.concurrency, input: p.inputTokens, output: p.outputTokens }));
    expect(totals(remoteOut)).toEqual(totals(nativeOut));
    // Not trivially equal: the prompt lengths are the dataset's (96 tokens each), the outputs 12 each.
    expect(remoteOut.capacity.points.map((p) => p.inputTokens)).toEqual([4 * 96, 8 * 96, 16 * 96]);
    expect(remoteOut.capacity.points.map((p) => p.outputTokens)).toEqual([4 * 12, 8 * 12, 16 * 12]);
  });

  it("keeps the private key out of the output and removes its key file", () => {
    const keyLine = host.privateKey.split("\n").find((l) => l.length > 40 && !l.startsWith("-----")) as string;
    expect(remote.stdout + remote.stderr).not.toContain(keyLine);
    expect([...remote.tmpAfter].filter((d) => !remote.tmpBefore.has(d))).toEqual([]);
  });
});
