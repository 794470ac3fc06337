import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderBootProgressScript } from "../../../components/serving/bootProgress";

const KEY = "sk-boot-redact-me";
let root: string;
let bin: string;

/**
 * Fake docker: `inspect` walks through the states listed in $FAKE_STATES (one per call, the last
 * repeats), each `status|health|exit-code|error`; `logs` prints a line containing the key. CREATED
 * is "now" unless $FAKE_CREATED is set.
 */
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-boot-test-"));
  bin = path.join(root, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(
    path.join(bin, "docker"),
    `#!/usr/bin/env bash
case "$1" in
  inspect)
    n=$(cat "$FAKE_COUNTER" 2>/dev/null || echo 0); echo $(( n + 1 )) > "$FAKE_COUNTER"
    IFS=',' read -r -a states <<< "$FAKE_STATES"
    i=$(( n < \${#states[@]} ? n : \${#states[@]} - 1 ))
    s="\${states[$i]}"
    [ "$s" = "absent" ] && exit 1
    echo "\${FAKE_CREATED:-$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z)}|$s" ;;
  logs) echo "Load weight begin. server_args=ServerArgs(api_key='${KEY}')" ;;
esac
`,
    { mode: 0o755 },
  );
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

interface RunOptions {
  readonly timeoutSeconds?: number;
  readonly intervalSeconds?: number;
  readonly createGraceSeconds?: number;
}

function run(env: Record<string, string>, o: RunOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = renderBootProgressScript({
    containerName: "hgx-t-sglang",
    intervalSeconds: o.intervalSeconds ?? 1,
    pollSeconds: 1,
    createGraceSeconds: o.createGraceSeconds,
    timeoutSeconds: o.timeoutSeconds ?? 30,
  });
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script], {
      env: { PATH: `${bin}:${process.env.PATH}`, SHLVL: "1", FAKE_COUNTER: path.join(root, `c-${Math.random()}`), ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(`${KEY}\n`);
  });
}

describe("boot progress", () => {
  it("reports until healthy, with the key redacted", async () => {
    const r = await run({ FAKE_STATES: "absent,running|starting|0|,running|starting|0|,running|healthy|0|" });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^BOOT \S+Z \+\d+s hgx-t-sglang not created yet$/);
    expect(lines[1]).toMatch(/status=running health=starting last-log: Load weight begin\. server_args=ServerArgs\(api_key='\[redacted\]'\)$/);
    expect(lines[lines.length - 1]).toMatch(/status=running health=healthy$/);
    expect(r.stdout).not.toContain(KEY);
  });

  it("looks often but prints only on a change (or once an interval)", async () => {
    const r = await run({ FAKE_STATES: "running|starting|0|,running|starting|0|,running|starting|0|,running|starting|0|,running|healthy|0|" }, { intervalSeconds: 3600 });
    expect(r.code).toBe(0);
    expect(r.stdout.match(/health=starting/g)).toHaveLength(1);
    expect(r.stdout).toMatch(/health=healthy/);
  });

  it("ignores an older container (the one being replaced) and stops at its bound", async () => {
    const r = await run({ FAKE_STATES: "running|healthy|0|", FAKE_CREATED: "2020-01-01T00:00:00.000000000Z" }, { timeoutSeconds: 2 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("not created yet");
    expect(r.stdout).not.toContain("health=healthy");
  });

  it("fails at once when the container stops, with the exit code and the last log lines, redacted", async () => {
    const r = await run({ FAKE_STATES: "running|starting|0|,exited|-|137|" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAILED: the container stopped \(status=exited health=- exit-code=137\)/);
    expect(r.stderr).toContain("api_key='[redacted]'");
    expect(r.stdout + r.stderr).not.toContain(KEY);
  });

  it("fails at once when Docker could not start the container, with Docker's error", async () => {
    const r = await run({ FAKE_STATES: "created|-|128|error setting rlimit type 8: operation not permitted" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("FAILED: the container could not start (status=created health=-): error setting rlimit type 8: operation not permitted");
  });

  it("leaves the verdict to the container resource when no container appears within the grace period", async () => {
    const r = await run({ FAKE_STATES: "absent" }, { createGraceSeconds: 2 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/not created within 2s; the container resource reports why/);
  });

  it("validates its options", () => {
    expect(() => renderBootProgressScript({ containerName: "x", timeoutSeconds: 0 })).toThrow(/timeoutSeconds 0/);
    expect(() => renderBootProgressScript({ containerName: "x", timeoutSeconds: 5, pollSeconds: 0.5 })).toThrow(/pollSeconds 0.5/);
  });
});
