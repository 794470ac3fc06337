/**
 * The stand-in images (test/fixtures/stand-in-images) on the real Docker engine, each run by the exact script the
 * product renders for the image it stands in for, with only the image option pointing at the stand-in:
 * - the remote benchmark (renderRemoteBenchCommand) against the SGLang simulator image on the host network,
 *   its result file read by the project's parser;
 * - the weights pre-download (renderWeightsDownloadScript) into a bind-mounted cache: downloaded, then skipped
 *   by the completion marker; a download told to fail fails the script; a slow one reports progress.
 * `--gpus` is left out of the benchmark run (no GPU runtime needed for a client; the product's default adds it).
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderRemoteBenchCommand, resultFilename } from "../../../components/benchmark/remoteRunner";
import { parseBenchmarkOutput } from "../../../components/benchmark/resultParser";
import { resolveWorkload } from "../../../components/benchmark/workload";
import { completionMarkerName, hubCacheDirName, renderWeightsDownloadScript } from "../../../components/serving/weights";
import { freePort } from "../../fixtures/net";
import { buildSimulatorImage, FAST_TIMING } from "../../fixtures/sglang-simulator";
import { run } from "../../fixtures/ssh-host/docker";
import {
  ensureHfDownloaderStandInImage,
  ensureVllmStandInImage,
  HF_DOWNLOADER_STANDIN_REPO,
  HF_STANDIN_DELAY_FILE,
  HF_STANDIN_FAIL_FILE,
  hfStandInSnapshotFile,
  VLLM_STANDIN_REPO,
} from "../../fixtures/stand-in-images";
import { runScript } from "../benchmark/localCommandMocks";
import { secretStdinLine } from "../../fixtures/stdinScript";

const RUN_ID = `${process.pid}-${randomBytes(3).toString("hex")}`;
const API_KEY = `sk-standin-it-${RUN_ID}`;
const MODEL = "Qwen/Qwen3.5-397B-A17B";
const WORKLOAD = resolveWorkload({ numPrompts: 8, maxConcurrency: 4, inputLen: 64, outputLen: 16 });
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-standin-it-"));
const containers: string[] = [];

let vllmImage = "";
let downloaderImage = "";

function containerName(role: string): string {
  const name = `hgx-standin-it-${role}-${RUN_ID}`;
  containers.push(name);
  return name;
}

async function docker(...args: string[]): Promise<string> {
  const r = await run("docker", args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Polls `url` until it answers 200, bounded in count and time. */
async function waitFor200(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < timeoutMs / 250 && Date.now() < deadline; i++) {
    const status = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

beforeAll(async () => {
  await docker("info", "--format", "{{.ServerVersion}}");
  [vllmImage, downloaderImage] = await Promise.all([ensureVllmStandInImage(), ensureHfDownloaderStandInImage()]);
}, 600_000);

afterAll(async () => {
  for (const c of containers) await run("docker", ["rm", "-f", c]);
  const left = await run("docker", ["ps", "-a", "--filter", `name=${RUN_ID}`, "--format", "{{.Names}}"]);
  fs.rmSync(work, { recursive: true, force: true });
  expect(left.stdout.trim()).toBe("");
}, 120_000);

describe("stand-in image builds", () => {
  it("are tagged by content hash, and a rebuild with nothing changed returns the same tags", async () => {
    expect(vllmImage).toMatch(new RegExp(`^${VLLM_STANDIN_REPO}:[0-9a-f]{16}$`));
    expect(downloaderImage).toMatch(new RegExp(`^${HF_DOWNLOADER_STANDIN_REPO}:[0-9a-f]{16}$`));
    const idBefore = (await docker("image", "inspect", "--format", "{{.Id}}", vllmImage)).trim();
    expect(await ensureVllmStandInImage()).toBe(vllmImage);
    expect(await ensureHfDownloaderStandInImage()).toBe(downloaderImage);
    // Reused, not re-imported: `docker import` would make a new image id (it stamps the import time).
    expect((await docker("image", "inspect", "--format", "{{.Id}}", vllmImage)).trim()).toBe(idBefore);
  });

  it("tags the pinned product name only when asked", async () => {
    const alias = `hgx-test/alias-${RUN_ID}:v1`;
    expect((await run("docker", ["image", "inspect", alias])).code).not.toBe(0);
    expect(await ensureHfDownloaderStandInImage({ alsoTagAs: alias })).toBe(downloaderImage);
    const [a, b] = await Promise.all([alias, downloaderImage].map(async (t) => (await docker("image", "inspect", "--format", "{{.Id}}", t)).trim()));
    expect(a).toBe(b);
    await docker("rmi", alias);
    await expect(ensureVllmStandInImage({ alsoTagAs: "Not A Name" })).rejects.toThrow(/alsoTagAs/);
  });
});

describe("vllm stand-in under the rendered remote benchmark script", () => {
  let port = 0;
  const resultDir = path.join(work, "results");
  const hfDir = path.join(work, "bench-hf");

  function script(over: { apiKeyFromStdin?: boolean; extraBenchArgs?: string[] } = {}): string {
    return renderRemoteBenchCommand({
      image: vllmImage,
      port,
      model: MODEL,
      servedModelName: "qwen",
      workload: WORKLOAD,
      resultDir,
      hfCacheDir: hfDir,
      apiKeyFromStdin: over.apiKeyFromStdin ?? true,
      extraBenchArgs: over.extraBenchArgs,
      gpus: false,
      containerName: containerName(`bench-${containers.length}`),
      timeoutSeconds: 300,
      pullTimeoutSeconds: 5,
    });
  }

  beforeAll(async () => {
    fs.mkdirSync(hfDir, { recursive: true });
    // The cache as the weights step leaves it on a host: the model's snapshot without a tokenizer.json.
    await docker("run", "--rm", "-v", `${hfDir}:/root/.cache/huggingface`, downloaderImage, "hf", "download", MODEL, "--quiet");
    expect(fs.existsSync(path.join(hfDir, hfStandInSnapshotFile(MODEL)))).toBe(true);
    const simImage = await buildSimulatorImage();
    port = await freePort();
    const timingEnv = Object.entries(FAST_TIMING).flatMap(([k, v]) => ["-e", `SIM_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}=${String(v)}`]);
    await docker(
      "run", "-d", "--name", containerName("sim"), "--network", "host", "-e", `SIM_API_KEY=${API_KEY}`, ...timingEnv,
      simImage, "python", "-m", "sglang.launch_server", "--host", "127.0.0.1", "--port", String(port), "--model-path", MODEL, "--served-model-name", "qwen",
    );
    await waitFor200(`http://127.0.0.1:${port}/health`, 90_000);
  }, 600_000);

  it("runs the workload with the key from stdin and prints the result file, which the project's parser reads", async () => {
    const r = await runScript(["bash", "-c"], script(), { env: process.env, stdin: secretStdinLine(API_KEY), timeoutMs: 300_000 });
    expect(r.stderr).toContain("Serving Benchmark Result");
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("pulling");
    expect(r.stderr).toContain(`${MODEL} is not in the local Hugging Face cache; using the bundled Qwen3 tokenizer`);
    const file = path.join(resultDir, resultFilename("qwen", WORKLOAD));
    expect(r.stdout).toBe(fs.readFileSync(file, "utf8"));
    const m = parseBenchmarkOutput(r.stdout);
    expect(m.completed).toBe(WORKLOAD.numPrompts);
    expect(m.failed).toBe(0);
    expect(m.totalOutputTokens).toBe(WORKLOAD.numPrompts * WORKLOAD.outputLen);
    expect(m.maxConcurrency).toBe(WORKLOAD.maxConcurrency);
    expect(m.modelId).toBe(MODEL);
    expect(m.notes).toEqual([expect.stringMatching(/^tokenizer fallback: /)]);
    expect(m.ttft.percentiles).toHaveProperty("90");
    expect(m.e2el?.mean).toBeGreaterThan(0);
    expect(`${r.stdout}${r.stderr}`).not.toContain(API_KEY);
  });

  it("without the key every request is refused, the script fails and prints no result", async () => {
    const r = await runScript(["bash", "-c"], script({ apiKeyFromStdin: false }), { env: process.env, timeoutMs: 300_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/8 request\(s\) failed, e\.g\.: .*401/);
    expect(r.stderr).toContain("vllm bench serve failed with exit status 1");
  });

  it("refuses a flag the native runner does not reproduce, naming it", async () => {
    const r = await runScript(["bash", "-c"], script({ extraBenchArgs: ["--ramp-up-strategy", "linear"] }), { env: process.env, stdin: secretStdinLine(API_KEY), timeoutMs: 120_000 });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Unknown option '--ramp-up-strategy'");
  });
});

describe("weights-downloader stand-in under the rendered download script", () => {
  function cacheDir(name: string): string {
    const dir = path.join(work, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  function script(hostPath: string): string {
    return renderWeightsDownloadScript({
      model: MODEL,
      revision: "main",
      cacheMount: { kind: "bind", hostPath, containerPath: "/root/.cache/huggingface" },
      containerName: containerName(`weights-${containers.length}`),
      downloaderImage,
      progressIntervalSeconds: 1,
      timeoutSeconds: 120,
    });
  }

  it("downloads into the cache and leaves the completion marker; the next run skips", async () => {
    const hf = cacheDir("weights-ok");
    const first = await runScript(["bash", "-c"], script(hf), { env: process.env, stdin: "\n", timeoutMs: 120_000 });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^TIMELINE weights_start \d{4}-/m);
    expect(first.stdout).toContain(`WEIGHTS downloaded: ${MODEL}@main`);
    expect(first.stdout).toMatch(/^TIMELINE weights_done \d{4}-/m);
    expect(JSON.parse(fs.readFileSync(path.join(hf, hfStandInSnapshotFile(MODEL)), "utf8"))).toMatchObject({ _name_or_path: MODEL });
    expect(fs.readFileSync(path.join(hf, "hub", hubCacheDirName(MODEL), completionMarkerName("main")), "utf8")).toMatch(/^\d{4}-\d\d-\d\dT/);

    const second = await runScript(["bash", "-c"], script(hf), { env: process.env, stdin: "\n", timeoutMs: 120_000 });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`WEIGHTS skipped: cache already complete for ${MODEL}@main`);
    expect(second.stdout).not.toContain("WEIGHTS downloaded");
  });

  it("a download told to fail fails the script, and no marker is left", async () => {
    const hf = cacheDir("weights-fail");
    fs.writeFileSync(path.join(hf, HF_STANDIN_FAIL_FILE), "401 Client Error: Unauthorized");
    const r = await runScript(["bash", "-c"], script(hf), { env: process.env, stdin: "\n", timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("401 Client Error: Unauthorized");
    expect(r.stderr).toContain(`weights download of ${MODEL} failed (exit 1)`);
    expect(r.stdout).not.toContain("WEIGHTS downloaded");
    expect(fs.existsSync(path.join(hf, "hub", hubCacheDirName(MODEL), completionMarkerName("main")))).toBe(false);
  });

  it("a slow download reports progress while it runs", async () => {
    const hf = cacheDir("weights-slow");
    // The download takes at least 3 s, so the 1 s progress loop must have printed before it ends.
    fs.writeFileSync(path.join(hf, HF_STANDIN_DELAY_FILE), "3");
    const r = await runScript(["bash", "-c"], script(hf), { env: process.env, stdin: "\n", timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const progress = r.stdout.split("\n").filter((l) => l.startsWith("PROGRESS "));
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress[0]).toMatch(/^PROGRESS \S+ elapsed=\d+s cache=\S+$/);
    expect(r.stdout.indexOf(progress[0])).toBeLessThan(r.stdout.indexOf("WEIGHTS downloaded"));
  });
});
