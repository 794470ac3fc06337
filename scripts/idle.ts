#!/usr/bin/env -S npx tsx
/**
 * Idle teardown from real traffic (issue #22 item 1): dry run by default, `--confirm` to act, one stack per run.
 *
 *   npx tsx scripts/idle.ts --stack dev              # the decision and its evidence
 *   npx tsx scripts/idle.ts --stack dev --confirm    # ... and destroy the compute if idle
 *
 * The decision path lives in components/ops/idleCli.ts (unit-tested with fake I/O); this file is the real I/O:
 * settings and the teardown through the Automation API (the same targets as scripts/down.sh, plus the local stack's
 * Docker volume kept), the record in a per-user state file keyed by backend + project + stack.
 * NOT YET WIRED (next session): reading /metrics over the pinned SSH connection needs the stack to export where its
 * router and servers listen on the host; until then `readMetrics` fails, and a failed reading always keeps the stack.
 * The Automation API paths below are written but not yet exercised by an engine test.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { runCliMain } from "../components/ops/cli";
import type { ActivityRecord } from "../components/ops/idle";
import { idleTeardownTargets, runIdle, type IdleIo, type IdleSettings } from "../components/ops/idleCli";
import { PROJECT } from "../components/projectFacts";

const REPO_ROOT = join(__dirname, "..");

async function selectStack(stackName: string) {
  const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
  return LocalWorkspace.selectStack({ stackName, workDir: REPO_ROOT });
}

/** The state file of one stack on one backend: a same-named stack on another backend has its own. */
async function recordPath(stackName: string): Promise<string> {
  const stack = await selectStack(stackName);
  const backend = process.env.PULUMI_BACKEND_URL ?? (await stack.workspace.whoAmI()).url ?? "default";
  const key = createHash("sha256").update(`${backend}\n${PROJECT}\n${stackName}`).digest("hex").slice(0, 16);
  const dir = join(process.env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), PROJECT, "idle");
  return join(dir, `${stackName.replace(/[^A-Za-z0-9_.-]/g, "_")}-${key}.json`);
}

const realIo: IdleIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  now: () => Date.now(),
  async readSettings(stackName): Promise<IdleSettings> {
    const config = await (await selectStack(stackName)).getAllConfig();
    const get = (key: string): string | undefined => config[`${PROJECT}:${key}`]?.value;
    return { idleTeardownAfter: get("idleTeardownAfter"), production: get("production") === "true", protect: get("lambdaProtect") === "true" };
  },
  async readMetrics(stackName) {
    throw new Error(`reading stack ${stackName}'s /metrics over SSH is not wired yet (issue 22: the stack must export its metrics endpoints on the host)`);
  },
  async loadRecord(stackName) {
    try {
      return JSON.parse(readFileSync(await recordPath(stackName), "utf8")) as ActivityRecord;
    } catch {
      return undefined;
    }
  },
  async saveRecord(stackName, record) {
    const path = await recordPath(stackName);
    mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
    // Write then rename: a run killed half-way never leaves a torn record that would restart the idle clock.
    writeFileSync(`${path}.tmp`, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  },
  async destroyCompute(stackName, progress) {
    const stack = await selectStack(stackName);
    const retain = (await stack.getAllConfig())[`${PROJECT}:lambdaRetainFilesystem`]?.value !== "false";
    const target = idleTeardownTargets(await stack.exportStack(), { retainFilesystem: retain });
    if (target.length === 0) {
      progress(`stack ${stackName} holds no compute to destroy`);
      return;
    }
    await stack.destroy({ target, targetDependents: true, onOutput: (text) => text.split("\n").filter(Boolean).forEach(progress) });
  },
  every(ms, tick) {
    const timer = setInterval(tick, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

runCliMain("idle", (argv) => runIdle(argv, realIo), 1);
