/**
 * The weights-downloader stand-in's `hf` and `pip` (POSIX sh, run here by dash as in the image): the cache layout
 * `hf download` leaves, its failure and delay switches, and the refusals.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HF_STANDIN_DELAY_FILE, HF_STANDIN_FAIL_FILE, hfStandInSnapshotFile } from "../../fixtures/stand-in-images";

const SHIMS = path.join(__dirname, "../../fixtures/stand-in-images/shims");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-hf-shim-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function shim(name: "hf" | "pip", args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync("dash", [path.join(SHIMS, name), ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8", timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function freshHome(name: string): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

describe("hf stand-in", () => {
  it("lays out refs/<rev> and snapshots/<rev>/config.json under $HF_HOME/hub and prints the snapshot path", () => {
    const home = freshHome("ok");
    const r = shim("hf", ["download", "Qwen/Qwen3.5-397B-A17B", "--revision", "v1.0"], { HF_HOME: home });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const config = path.join(home, hfStandInSnapshotFile("Qwen/Qwen3.5-397B-A17B", "v1.0"));
    expect(r.stdout.trim()).toBe(path.dirname(config));
    expect(JSON.parse(fs.readFileSync(config, "utf8"))).toEqual({ _name_or_path: "Qwen/Qwen3.5-397B-A17B", _revision: "v1.0", hgx_test_stand_in: true });
    expect(fs.readFileSync(path.join(home, "hub/models--Qwen--Qwen3.5-397B-A17B/refs/v1.0"), "utf8")).toBe("v1.0");
    expect(shim("hf", ["download", "a/b", "--quiet"], { HF_HOME: home }).stdout).toBe("");
    expect(fs.existsSync(path.join(home, hfStandInSnapshotFile("a/b")))).toBe(true);
  });

  it("fails when told to, by a file in $HF_HOME or by the environment, writing nothing", () => {
    const home = freshHome("fail");
    fs.writeFileSync(path.join(home, HF_STANDIN_FAIL_FILE), "403 Forbidden: gated repo");
    const byFile = shim("hf", ["download", "a/b"], { HF_HOME: home });
    expect(byFile.code).toBe(1);
    expect(byFile.stderr).toContain("403 Forbidden: gated repo");
    expect(fs.existsSync(path.join(home, "hub"))).toBe(false);
    const byEnv = shim("hf", ["download", "a/b"], { HF_HOME: freshHome("fail-env"), HF_STANDIN_FAIL: "boom" });
    expect(byEnv.code).toBe(1);
    expect(byEnv.stderr).toContain("boom");
  });

  it("waits the delay it is given before writing", () => {
    const home = freshHome("slow");
    fs.writeFileSync(path.join(home, HF_STANDIN_DELAY_FILE), "1");
    const started = process.hrtime.bigint();
    expect(shim("hf", ["download", "a/b"], { HF_HOME: home }).code).toBe(0);
    // A lower bound only: sleep cannot return early, however busy the machine.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeGreaterThanOrEqual(1000);
  });

  it.each([
    [["login"], /unsupported command 'hf login'/],
    [["download", "a/b", "--local-dir", "/x"], /unknown flag --local-dir/],
    [["download", "justaname"], /repo id 'justaname' is not ORG\/NAME/],
    [["download", "a/b/c"], /repo id 'a\/b\/c' is not ORG\/NAME/],
    [["download", "a/b", "c/d"], /a second repo id 'c\/d'/],
  ])("refuses hf %j", (args, message) => {
    const r = shim("hf", args, { HF_HOME: freshHome("refused") });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe("pip stand-in", () => {
  it("succeeds on install without doing anything, quietly with --quiet, and refuses other commands", () => {
    expect(shim("pip", ["install", "--quiet", "-U", "huggingface_hub[hf_xet]"])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(shim("pip", ["install", "x"]).stdout).toContain("nothing installed for: x");
    const other = shim("pip", ["download", "x"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("only 'pip install ...' is answered");
  });
});
