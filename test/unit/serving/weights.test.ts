import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cacheMountFor } from "../../../components/serving/containerSpec";
import {
  completionMarkerName,
  DEFAULT_DOWNLOADER_IMAGE,
  downloaderImageFrom,
  DOWNLOADER_REQUIREMENTS_FILE,
  hubCacheDirName,
  renderDownloaderSetup,
  revisionPinAdvice,
  sglangRevisionFlags,
  validateDownloaderRequirements,
  weightsCommitDisagreement,
  weightsCommitFrom,
  renderWeightsDownloadScript,
  validateWeightsDownload,
  type WeightsDownloadOptions,
} from "../../../components/serving/weights";
import { secretStdinLine } from "../../fixtures/stdinScript";

const TOKEN = "hf_secretTOKEN_123";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const IMAGE_ID = `sha256:${"a".repeat(64)}`;
const REPO_DIGEST = `sha256:${"b".repeat(64)}`;
let root: string;
let bin: string;

/**
 * A fake `docker` that runs the downloader's inner script on this machine with HF_HOME pointed
 * at a temp dir, plus fake `hf`/`pip`: enough to watch what the real script does end to end.
 */
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-weights-test-"));
  bin = path.join(root, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(
    path.join(bin, "docker"),
    `#!/usr/bin/env bash
call=$(mktemp "$FAKE_LOG/docker-XXXXXX")
printf '%s\\0' "$@" > "$call"
case "$1" in
  rm) exit 0 ;;
  image)
    # Every image is present: its ID and one repo digest, as \`docker image inspect --format\` prints them.
    img="\${@: -1}"
    case "$*" in *--format*) echo "\${FAKE_IMAGE_ID} \${img%%[:@]*}@\${FAKE_REPO_DIGEST}" ;; esac
    exit 0 ;;
  exec) mktemp "$FAKE_LOG/exec-XXXXXX" >/dev/null; echo "12G"; exit 0 ;;
  run)
    inner="\${@: -1}"
    HF_HOME="$FAKE_HF_HOME" sh -c "$inner"
    rc=$?
    # A download that lasts until the progress loop has asked for the cache size N times (so it
    # has printed N-1 lines), however slow the machine: bounded at 5 min.
    for _ in $(seq 1 6000); do
      [ "$(find "$FAKE_LOG" -name 'exec-*' | wc -l)" -ge "\${FAKE_RUN_UNTIL_SIZE_CHECKS:-0}" ] && break
      sleep 0.05
    done
    exit "\${FAKE_RUN_EXIT:-$rc}" ;;
esac
exit 0
`,
    { mode: 0o755 },
  );
  fs.writeFileSync(
    path.join(bin, "hf"),
    `#!/usr/bin/env bash
printf '%s\\n' "argv=$*" "token=\${HF_TOKEN-<unset>}" >> "$FAKE_LOG/hf"
mkdir -p "$HF_HOME/hub/models--Qwen--Tiny/snapshots/abc" "$HF_HOME/hub/models--Qwen--Tiny/refs" && echo '{}' > "$HF_HOME/hub/models--Qwen--Tiny/snapshots/abc/config.json"
case "$*" in *"--revision main"*) echo "$FAKE_COMMIT" > "$HF_HOME/hub/models--Qwen--Tiny/refs/main" ;; esac
`,
    { mode: 0o755 },
  );
  // Records its argv and what it reads from `-r /dev/stdin` (the here-document carrying the pinned list).
  fs.writeFileSync(
    path.join(bin, "pip"),
    `#!/usr/bin/env bash\necho "pip $*" >> "$FAKE_LOG/pip"\ncase " $* " in *" -r /dev/stdin "*) cat > "$FAKE_LOG/pip-requirements" ;; esac\n`,
    { mode: 0o755 },
  );
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const opts: WeightsDownloadOptions = {
  model: "Qwen/Tiny",
  cacheMount: cacheMountFor(undefined, "hgx-test-hf-cache"),
  containerName: "hgx-test-sglang-weights",
  progressIntervalSeconds: 1,
  labels: { "hgx.stack": "test" },
};

function runScript(script: string, stdin: string, env: Record<string, string>) {
  const log = fs.mkdtempSync(path.join(root, "log-"));
  const r = spawnSync("bash", ["-c", script], {
    input: stdin,
    env: { PATH: `${bin}:${process.env.PATH}`, SHLVL: "1", FAKE_LOG: log, FAKE_IMAGE_ID: IMAGE_ID, FAKE_REPO_DIGEST: REPO_DIGEST, ...env },
    timeout: 20_000,
  });
  const dockerCalls = fs
    .readdirSync(log)
    .filter((f) => f.startsWith("docker-"))
    .map((f) => fs.readFileSync(path.join(log, f), "utf8").split("\0").slice(0, -1));
  const read = (f: string) => (fs.existsSync(path.join(log, f)) ? fs.readFileSync(path.join(log, f), "utf8") : "");
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString(), dockerCalls, hf: read("hf"), pip: read("pip"), pipRequirements: read("pip-requirements") };
}

describe("weights pre-download script", () => {
  it("passes the token via stdin only, reports progress and timeline, then skips on a warm cache", () => {
    const hfHome = fs.mkdtempSync(path.join(root, "hf-"));
    const script = renderWeightsDownloadScript(opts);
    expect(script).not.toContain(TOKEN);

    const first = runScript(script, secretStdinLine(TOKEN), { FAKE_HF_HOME: hfHome, FAKE_RUN_UNTIL_SIZE_CHECKS: "2", FAKE_COMMIT: COMMIT });
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    // The token reached hf download through the environment, never through any argv.
    expect(first.hf).toContain(`token=${TOKEN}`);
    expect(first.hf).toContain("argv=download Qwen/Tiny --revision main");
    for (const call of first.dockerCalls) expect(call.join(" ")).not.toContain(TOKEN);
    const run = first.dockerCalls.find((c) => c[0] === "run");
    expect(run).toBeDefined();
    expect(run).not.toContain("HF_TOKEN");
    expect(run?.join(" ")).toContain("-v hgx-test-hf-cache:/root/.cache/huggingface");
    // The downloader (it holds the token) runs by the image ID its pinned reference resolved to, reported for state.
    expect(opts.downloaderImage ?? DEFAULT_DOWNLOADER_IMAGE).toMatch(/^python:3\.12-slim@sha256:[a-f0-9]{64}$/);
    expect(run?.join(" ")).toContain(`${IMAGE_ID} sh -c`);
    expect(first.stdout).toContain(`WEIGHTS image ${IMAGE_ID} python@${REPO_DIGEST}\n`);
    expect(downloaderImageFrom(first.stdout, DEFAULT_DOWNLOADER_IMAGE)).toBe(`python@${REPO_DIGEST}`);
    expect(run?.join(" ")).toContain("-e HF_XET_HIGH_PERFORMANCE=1");
    // Exactly the checked-in wheels, each hash-verified, no resolver: the list arrives on pip's stdin.
    expect(first.pip).toContain("install --quiet --no-cache-dir --disable-pip-version-check --root-user-action=ignore --require-hashes --no-deps --only-binary=:all: -r /dev/stdin");
    expect(first.pip).not.toMatch(/ -U |--upgrade/);
    const pinned = validateDownloaderRequirements(fs.readFileSync(DOWNLOADER_REQUIREMENTS_FILE, "utf8"));
    expect("pins" in pinned && pinned.pins.length).toBeGreaterThan(0);
    expect(first.pipRequirements.trim().split("\n")).toEqual("pins" in pinned ? pinned.pins : []);
    expect(first.stdout).toMatch(/^TIMELINE weights_start \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    expect(first.stdout).toMatch(/^PROGRESS \S+ elapsed=\d+s cache=12G$/m);
    expect(first.stdout).toContain("WEIGHTS downloaded: Qwen/Tiny@main");
    // The commit `main` named at download time, from the cache's refs/main: what a deploy records and pins.
    expect(first.stdout).toContain(`WEIGHTS commit Qwen/Tiny@main ${COMMIT}\n`);
    expect(first.stdout).toMatch(/^TIMELINE weights_done \S+$/m);
    expect(fs.existsSync(path.join(hfHome, "hub", hubCacheDirName("Qwen/Tiny"), completionMarkerName("main")))).toBe(true);
    // The downloader container is removed on exit.
    expect(first.dockerCalls.filter((c) => c[0] === "rm").length).toBeGreaterThanOrEqual(2);

    const second = runScript(script, secretStdinLine(TOKEN), { FAKE_HF_HOME: hfHome });
    expect(second.status).toBe(0);
    expect(second.stdout).toContain("WEIGHTS skipped: cache already complete for Qwen/Tiny@main");
    expect(second.stdout).toContain(`WEIGHTS commit Qwen/Tiny@main ${COMMIT}\n`);
    expect(second.hf).toBe("");
    expect(second.pip).toBe("");
  });

  it("without a token, hf runs with HF_TOKEN unset (an empty token would be sent as-is)", () => {
    const hfHome = fs.mkdtempSync(path.join(root, "hf-"));
    const r = runScript(renderWeightsDownloadScript(opts), "\n", { FAKE_HF_HOME: hfHome });
    expect(r.status).toBe(0);
    expect(r.hf).toContain("token=<unset>");
  });

  it("a bind-mounted cache uses the host path; the setup step can be skipped", () => {
    const script = renderWeightsDownloadScript({ ...opts, cacheMount: cacheMountFor("/lambda/nfs/fs1", "unused"), downloaderSetup: "", downloaderImage: "hgx/hf:1" });
    const r = runScript(script, "", { FAKE_HF_HOME: fs.mkdtempSync(path.join(root, "hf-")) });
    expect(r.status).toBe(0);
    const run = r.dockerCalls.find((c) => c[0] === "run")?.join(" ");
    expect(run).toContain("-v /lambda/nfs/fs1/huggingface:/root/.cache/huggingface");
    expect(run).toContain(`${IMAGE_ID} sh -c`);
    expect(downloaderImageFrom(r.stdout, "hgx/hf:1")).toBe(`hgx/hf@${REPO_DIGEST}`);
    expect(r.pip).toBe("");
  });

  it("failures and timeouts exit non-zero with a message naming the model and the fix", () => {
    const failed = runScript(renderWeightsDownloadScript(opts), "", { FAKE_HF_HOME: fs.mkdtempSync(path.join(root, "hf-")), FAKE_RUN_EXIT: "1" });
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/weights download of Qwen\/Tiny failed \(exit 1\).*401\/403/);
    expect(failed.stdout).not.toContain("weights_done");
    const timedOut = runScript(renderWeightsDownloadScript(opts), "", { FAKE_HF_HOME: fs.mkdtempSync(path.join(root, "hf-")), FAKE_RUN_EXIT: "124" });
    expect(timedOut.stderr).toMatch(/exceeded 14400s; raise the weights timeout/);
  });

  it("validates its options", () => {
    expect(validateWeightsDownload({ ...opts, model: "/models/local" })[0]).toMatch(/not a Hugging Face repo id/);
    expect(validateWeightsDownload({ ...opts, revision: "bad rev" })[0]).toMatch(/revision "bad rev" is malformed/);
    expect(validateWeightsDownload({ ...opts, timeoutSeconds: 5 })[0]).toMatch(/timeoutSeconds 5 must be an integer >= 60/);
    expect(() => renderWeightsDownloadScript({ ...opts, model: "nope" })).toThrow(/not a Hugging Face repo id/);
  });

  it("a commit sha as the revision names itself (the hub keeps no ref for it)", () => {
    const r = runScript(renderWeightsDownloadScript({ ...opts, revision: COMMIT }), "", { FAKE_HF_HOME: fs.mkdtempSync(path.join(root, "hf-")) });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`WEIGHTS commit Qwen/Tiny@${COMMIT} ${COMMIT}\n`);
  });

  it("is valid bash", () => {
    const r = spawnSync("bash", ["-n", "-c", renderWeightsDownloadScript(opts)]);
    expect(r.status).toBe(0);
  });
});

describe("weights downloader requirements", () => {
  const HASH = `--hash=sha256:${"a".repeat(64)}`;

  it("the checked-in list pins the hub client, its xet transport and every dependency by version and hash", () => {
    const checked = validateDownloaderRequirements(fs.readFileSync(DOWNLOADER_REQUIREMENTS_FILE, "utf8"));
    expect(checked).not.toHaveProperty("problems");
    const names = "pins" in checked ? checked.pins.map((l) => l.split("==")[0]) : [];
    for (const needed of ["huggingface-hub", "hf-xet", "filelock", "fsspec", "packaging", "pyyaml", "tqdm", "typing-extensions"]) {
      expect(names).toContain(needed);
    }
  });

  it("admits only name==version lines with sha256 hashes, so nothing in the here-document is shell or an unpinned package", () => {
    expect(validateDownloaderRequirements(`# comment\n\nfoo==1.0 ${HASH}\n`)).toEqual({ pins: [`foo==1.0 ${HASH}`] });
    const rejected = ["huggingface_hub", "foo>=1.0 " + HASH, "foo==1.0", "foo==1.0 --hash=md5:abc", `foo==1.0 ${HASH}\nHGX_DOWNLOADER_REQUIREMENTS`, `foo==$(id) ${HASH}`, "-r other.txt", "git+https://x/y"];
    for (const text of rejected) expect(validateDownloaderRequirements(text)).toHaveProperty("problems");
    expect(validateDownloaderRequirements("# only a comment\n")).toEqual({ problems: ["it pins no package"] });
    expect(() => renderDownloaderSetup("foo")).toThrow(/line 1 "foo" is not .*regenerate them with scripts\/lock-downloader-requirements.sh/);
  });

  it("the rendered step feeds pip exactly the pins through a quoted here-document (nothing expanded)", () => {
    const setup = renderDownloaderSetup(`foo==1.0 ${HASH}\nbar==2.0 ${HASH} --hash=sha256:${"b".repeat(64)}\n`);
    const log = fs.mkdtempSync(path.join(root, "setup-"));
    const r = spawnSync("sh", ["-c", setup], { env: { PATH: `${bin}:${process.env.PATH}`, FAKE_LOG: log }, timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(log, "pip-requirements"), "utf8")).toBe(`foo==1.0 ${HASH}\nbar==2.0 ${HASH} --hash=sha256:${"b".repeat(64)}\n`);
  });

  it("reads the reported commit, and refuses replicas that got different commits", () => {
    const sha = (c: string) => c.repeat(40);
    expect(weightsCommitFrom(`TIMELINE weights_start x\nWEIGHTS commit Qwen/Tiny@main ${sha("a")}\nTIMELINE weights_done y\n`)).toBe(sha("a"));
    expect(weightsCommitFrom("WEIGHTS downloaded: Qwen/Tiny@main\n")).toBe("");
    expect(weightsCommitDisagreement("Qwen/Tiny", [{ name: "hgx", commit: sha("a") }, { name: "hgx-2", commit: sha("a") }, { name: "local", commit: "" }])).toBeUndefined();
    const split = weightsCommitDisagreement("Qwen/Tiny", [{ name: "hgx", commit: sha("a") }, { name: "hgx-2", commit: sha("b") }]);
    expect(split).toContain(`hgx: ${sha("a")}, hgx-2: ${sha("b")}`);
    expect(split).toContain("pin it");
  });

  it("SGLang gets --revision only off main, and a branch gets the pin advice until it is a commit", () => {
    expect(sglangRevisionFlags("main")).toEqual([]);
    expect(sglangRevisionFlags(COMMIT)).toEqual(["--revision", COMMIT]);
    expect(revisionPinAdvice("Qwen/Tiny", COMMIT)).toBeUndefined();
    expect(revisionPinAdvice("Qwen/Tiny", "main")).toContain('pulumi config set hgx-inference:hfRevision "$(pulumi stack output weightsCommit)"');
  });
});
