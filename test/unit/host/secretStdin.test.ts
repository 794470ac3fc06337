/**
 * A secret on a host script's stdin, through the REAL wrapper: `STDIN_SCRIPT_COMMAND` run by `/bin/sh -c` (as the
 * command provider runs `create` on the host) with the stdin `stdinScript` builds, in front of each script that
 * reads a secret — readiness gate, weights download, router drain and rejoin, remote benchmark — and the capacity
 * search's `processExecutor`. A secret holding a line break (a token pasted over two lines) must neither run its
 * second line as bash nor reach any process's argv; every value must arrive byte for byte.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { processExecutor } from "../../../components/benchmark/capacityRemote";
import { renderRemoteBenchCommand } from "../../../components/benchmark/remoteRunner";
import { SEED_WORKLOAD } from "../../../components/benchmark/workload";
import { STDIN_SCRIPT_COMMAND, stdinScript } from "../../../components/host/connection";
import { renderDrainScript, renderRejoinScript } from "../../../components/router/workerSteps";
import { renderReadinessGateScript } from "../../../components/serving/readinessGate";
import { renderWeightsDownloadScript } from "../../../components/serving/weights";
import { bashPrologueReadingSecret, shellQuote } from "../../../components/shell";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-secret-stdin-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Stand-ins for what the scripts call on a host: they answer at once, reading their stdin to the end. */
const bin = path.join(work, "bin");
fs.mkdirSync(bin);
// Every call "succeeds" with no output, so each script takes its shortest path to an end.
for (const tool of ["docker", "curl"]) fs.writeFileSync(path.join(bin, tool), "#!/bin/bash\ncat >/dev/null 2>&1\nexit 0\n", { mode: 0o755 });

async function stdinOf(script: string, secret: string): Promise<string> {
  const { create, stdin } = stdinScript(script, secret);
  expect(create).toBe(STDIN_SCRIPT_COMMAND);
  return (stdin as unknown as { promise(): Promise<string> }).promise();
}

/** The command provider's way: the login shell runs `create`, fed `stdin`. */
function runWrapper(stdin: string) {
  return spawnSync("/bin/sh", ["-c", STDIN_SCRIPT_COMMAND], {
    input: stdin,
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: work },
    cwd: work,
    encoding: "utf8",
    timeout: 60_000,
  });
}

const marker = () => path.join(work, `pwned-${crypto.randomBytes(6).toString("hex")}`);

/** Every script the stack feeds a secret on stdin, with limits that end it in a second or two. */
function secretReadingScripts(): Record<string, string> {
  const step = { routerUrl: "http://127.0.0.1:9", workerUrl: "http://127.0.0.1:9", timeoutSeconds: 0 };
  return {
    "readiness gate": renderReadinessGateScript({ baseUrl: "http://127.0.0.1:9", servedModelName: "qwen", containerName: "c", timeoutSeconds: 1, pollIntervalSeconds: 1 }),
    "weights download": renderWeightsDownloadScript({ model: "Qwen/Qwen3-0.6B", cacheMount: { kind: "volume", volumeName: "hf", containerPath: "/root/.cache/huggingface" }, containerName: "w", progressIntervalSeconds: 60 }),
    "router drain": renderDrainScript(step),
    "router rejoin": renderRejoinScript(step),
    "remote benchmark": renderRemoteBenchCommand({
      image: "vllm/vllm-openai:v0.18.0",
      port: 9,
      model: "Qwen/Qwen3-0.6B",
      servedModelName: "qwen",
      workload: { ...SEED_WORKLOAD, numPrompts: 1, maxConcurrency: 1 },
      hfCacheDir: path.join(work, "hf"),
      resultDir: path.join(work, "results"),
      timeoutSeconds: 5,
      apiKeyFromStdin: true,
    }),
  };
}

describe("a secret on stdin, through the real wrapper", () => {
  it.each(Object.keys(secretReadingScripts()))("%s: a two-line secret's second line never runs", async (name) => {
    const m = marker();
    const r = runWrapper(await stdinOf(secretReadingScripts()[name]!, `sk-first\ntouch ${m}`));
    expect(r.error).toBeUndefined();
    expect(fs.existsSync(m), `${name} ran the secret's second line:\n${r.stderr}`).toBe(false);
  });

  it("the capacity search's executor frames it the same way", async () => {
    const m = marker();
    const exec = processExecutor("bash", ["-c", STDIN_SCRIPT_COMMAND], () => undefined);
    const script = `${bashPrologueReadingSecret("API_KEY")}printf '%s' "$API_KEY"`;
    const secret = `sk-first\ntouch ${m}`;
    expect(await exec(script, secret, 30_000)).toBe(secret);
    expect(fs.existsSync(m)).toBe(false);
  });

  it("every value arrives byte for byte, and none reaches the inner bash's argv (ps, /proc/<pid>/cmdline)", async () => {
    const out = path.join(work, "out");
    const argv = path.join(work, "argv");
    // The script's own argv is what `ps` shows of it; it must hold no part of the secret.
    const script = `${bashPrologueReadingSecret("API_KEY")}printf '%s' "$API_KEY" > ${shellQuote(out)}; tr '\\0' ' ' < /proc/$$/cmdline > ${shellQuote(argv)}`;
    for (const secret of ["", "sk-plain", "two words", "quote ' \" $(x) `y` \\ end", "ключ-🔑", "line one\nSECOND-LINE-in-argv?", "trailing-cr\r"]) {
      const r = runWrapper(await stdinOf(script, secret));
      expect(r.status, r.stderr).toBe(0);
      expect(fs.readFileSync(out, "utf8")).toBe(secret);
      expect(fs.readFileSync(argv, "utf8")).toContain("printf '%s' \"$API_KEY\"");
      for (const part of secret.split(/[\r\n]/).filter((p) => p.length > 3)) expect(fs.readFileSync(argv, "utf8")).not.toContain(part);
    }
  });

  it("a first line that is not the framing stops the script without running it or echoing the line", () => {
    const out = path.join(work, "ran");
    const r = runWrapper(`not base64 !!\n${bashPrologueReadingSecret("API_KEY")}touch ${shellQuote(out)}`);
    expect(r.status).toBe(2);
    expect(fs.existsSync(out)).toBe(false);
    expect(r.stderr).toContain("not the base64 framing of API_KEY");
    expect(r.stderr).not.toContain("not base64 !!");
  });
});
