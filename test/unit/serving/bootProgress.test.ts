import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderBootProgressScript } from "../../../components/serving/bootProgress";
import { installFakeShellClock, type FakeShellClock } from "../../fixtures/fakeShellClock";

const KEY = "sk-boot-redact-me";
let root: string;
let bin: string;
let clock: FakeShellClock;

/**
 * Fake docker: `inspect` walks through the states listed in $FAKE_STATES (one per call, the last
 * repeats); `logs` prints a line containing the key. CREATED is "now" unless $FAKE_CREATED is set.
 * On a fake clock (`date`, `sleep`), so the loop runs its exact schedule however slow the machine.
 */
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-boot-test-"));
  bin = path.join(root, "bin");
  fs.mkdirSync(bin);
  clock = installFakeShellClock(root);
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
    echo "\${FAKE_CREATED:-$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z)} $s" ;;
  logs) echo "Load weight begin. server_args=ServerArgs(api_key='${KEY}')" ;;
esac
`,
    { mode: 0o755 },
  );
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function run(env: Record<string, string>, timeoutSeconds = 10): Promise<{ code: number | null; stdout: string; fakeSecondsElapsed: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", renderBootProgressScript({ containerName: "hgx-t-sglang", intervalSeconds: 1, timeoutSeconds })], {
      env: { PATH: `${clock.binDir}:${bin}:${process.env.PATH}`, SHLVL: "1", FAKE_COUNTER: path.join(root, `c-${Math.random()}`), ...clock.env(), ...env },
    });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, fakeSecondsElapsed: clock.elapsedSeconds() }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(`${KEY}\n`);
  });
}

describe("boot progress", () => {
  it("reports each minute (here: second) until healthy, with the key redacted", async () => {
    const r = await run({ FAKE_STATES: "absent,running starting,running starting,running healthy" });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    // One line a second: +0s, +1s, +2s, +3s (healthy: done).
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^BOOT \S+Z \+0s hgx-t-sglang not created yet$/);
    expect(lines[1]).toMatch(/^BOOT \S+Z \+1s hgx-t-sglang status=running health=starting last-log: Load weight begin\. server_args=ServerArgs\(api_key='\[redacted\]'\)$/);
    expect(lines[2]).toMatch(/ \+2s hgx-t-sglang status=running health=starting /);
    expect(lines[3]).toMatch(/ \+3s hgx-t-sglang status=running health=healthy/);
    expect(r.stdout).not.toContain(KEY);
  });

  it("ignores an older container (the one being replaced) and stops at its bound", async () => {
    const r = await run({ FAKE_STATES: "running healthy", FAKE_CREATED: "2020-01-01T00:00:00.000000000Z" }, 2);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("health=healthy");
    // A 2 s bound: lines at +0s and +1s, then the deadline ends it.
    expect(r.stdout.trim().split("\n")).toEqual([expect.stringMatching(/ \+0s hgx-t-sglang not created yet$/), expect.stringMatching(/ \+1s hgx-t-sglang not created yet$/)]);
    expect(r.fakeSecondsElapsed).toBe(2);
  });

  it("stops reporting when the container exits, without failing", async () => {
    const r = await run({ FAKE_STATES: "running starting,exited -" });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("stopped (status=exited)");
  });

  it("validates its options", () => {
    expect(() => renderBootProgressScript({ containerName: "x", timeoutSeconds: 0 })).toThrow(/timeoutSeconds 0/);
  });
});
