/**
 * `pulumi up` SIGKILLed at each step of the Lambda flow, then the README's recovery (`pulumi cancel`
 * when the stack is locked, then `pulumi up`): exactly one instance, the state holds the one the API
 * has, and destroy leaves nothing. The killed CLI's provider processes outlive it (the Node.js
 * provider host runs behind a shell wrapper); each must notice its engine is gone, send no further
 * API request and exit, instead of going on with the launch beside the user's re-run.
 *
 * Real CLI, language host and serialized providers (see lambda-engine-project.ts); the emulator's
 * limits compressed 100x, the providers paced at 400 ms per request so that a kill lands between
 * two steps (the kill follows the step's request within a few ms; the provider's next request is
 * due 400 ms later).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineFastEnv, scaledRateLimit, startLambdaEmulator, type LambdaEmulator, type RequestLogEntry } from "../../fixtures/lambda-emulator";
import { commandLine, createLambdaProject, descendants, isAlive, type LambdaProject } from "../../fixtures/lambda-engine-project";

const RATE_LIMIT = scaledRateLimit(0.01);
const REQUEST_INTERVAL_MS = 400;

let emulator: LambdaEmulator;
const table: string[] = [];

beforeAll(async () => {
  emulator = await startLambdaEmulator({ bootMs: 3_000, terminateMs: 200, rateLimit: RATE_LIMIT });
});

afterAll(async () => {
  const leaked = emulator?.leakedInstances() ?? [];
  await emulator?.close();
  console.log(`\nkilled after | killed run's API calls after the kill | provider processes left | recovery | instances after re-run | after destroy\n${table.join("\n")}`);
  expect(leaked.map((i) => i.id)).toEqual([]);
});

const path = (r: RequestLogEntry) => r.path.replace(/^\/api\/v1/, "");
const live = () => emulator.state.instances().filter((i) => i.status !== "terminated" && i.status !== "terminating");

interface KillPoint {
  readonly name: string;
  /** The request after whose answer the CLI is killed. */
  readonly after: (r: RequestLogEntry) => boolean;
  /** Faults set before the run. */
  readonly faults?: () => void;
}

const KILL_POINTS: KillPoint[] = [
  {
    name: "a refused launch (failover under way)",
    faults: () => emulator.faults.refuseLaunchIn("us-east-1", 1),
    after: (r) => r.method === "POST" && path(r) === "/instance-operations/launch" && r.errorCode === "instance-operations/launch/insufficient-capacity",
  },
  { name: "an accepted launch", after: (r) => r.method === "POST" && path(r) === "/instance-operations/launch" && r.status === 200 },
  { name: "the SSH key", after: (r) => r.method === "POST" && path(r) === "/ssh-keys" && r.status === 200 },
  { name: "the filesystem", after: (r) => r.method === "POST" && path(r) === "/filesystems" && r.status === 200 },
  { name: "a firewall ruleset", after: (r) => r.method === "POST" && path(r) === "/firewall-rulesets" && r.status === 200 },
  {
    name: "the boot wait's first poll",
    after: (r) => r.method === "GET" && /^\/instances\/[0-9a-f]{32}$/.test(path(r)) && r.status === 200,
  },
];

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number, everyMs = 5): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe("SIGKILL of pulumi up at each Lambda step, then the documented recovery", () => {
  it.each(KILL_POINTS.map((k, i) => [k.name, i] as const))("killed after %s", async (name, index) => {
    const point = KILL_POINTS[index]!;
    emulator.faults.reset();
    point.faults?.();
    const project: LambdaProject = await createLambdaProject({
      stackName: `kill${index}`,
      config: {
        lambdaRegions: JSON.stringify(["us-east-1", "us-west-1"]),
        lambdaFilesystemName: `kill-cache-${index}`,
        lambdaApiUrl: emulator.baseUrl,
        lambdaBootTimeout: "5m",
      },
      secretConfig: { lambdaApiKey: emulator.apiKey },
      env: { ...engineFastEnv(RATE_LIMIT), LAMBDA_API_REQUEST_INTERVAL_MS: String(REQUEST_INTERVAL_MS) },
    });
    const orphans: number[] = [];
    try {
      const from = emulator.requests().length;
      const run = project.startUp();
      const cliPid = run.child.pid!;
      await waitFor(`${name} in the request log`, () => (emulator.requests().slice(from).some(point.after) ? true : undefined), 180_000);
      const tree = descendants(cliPid);
      run.child.kill("SIGKILL");
      const killedAt = Date.now();
      await run.done;
      orphans.push(...tree);
      const providers = tree.filter((p) => commandLine(p).includes("dynamic-provider"));
      expect(providers.length, `provider processes under the CLI: ${tree.map(commandLine).join(" | ")}`).toBeGreaterThan(0);

      // Each orphaned provider stops: it exits at its next request, which is due within one pacing interval.
      const exited = await waitFor("the orphaned providers to exit", () => (providers.every((p) => !isAlive(p)) ? true : undefined), 30_000, 50).then(
        () => true,
        () => false,
      );
      // Several pacing intervals more: nothing of the killed run reaches the API.
      await new Promise((r) => setTimeout(r, 5 * REQUEST_INTERVAL_MS));
      const afterKill = emulator.requests().filter((r) => r.at > killedAt);
      expect(afterKill.map((r) => `${r.method} ${path(r)} ${r.status}`)).toEqual([]);
      expect(exited).toBe(true);
      const lingering = tree.filter(isAlive).map((p) => commandLine(p).split(" ").slice(0, 2).join(" "));

      // The README's recovery: `pulumi cancel` if the stack is locked; `pulumi refresh
      // --clear-pending-creates` (the engine cannot know whether a create the kill interrupted
      // happened, and keeps its pending operation through every later up and destroy; the re-run's
      // creates find what the killed run made by its tags and names); then `pulumi up`.
      const steps: string[] = [];
      const pendingBefore = (await project.exportState()).deployment.pending_operations ?? [];
      const refreshArgs = ["refresh", "--yes", "--skip-preview", "--clear-pending-creates"];
      let refresh = await project.cli(refreshArgs, 240_000);
      if (refresh.code !== 0 && /pulumi cancel/.test(refresh.output)) {
        const cancel = await project.cli(["cancel", "--yes"]);
        const said = refresh.output.split("\n").find((l) => /error:.*lock|locked/i.test(l))?.trim() ?? "";
        steps.push(`cancel (${cancel.code === 0 ? "ok" : `exit ${cancel.code}`}; refresh had said: ${said.slice(0, 160)})`);
        refresh = await project.cli(refreshArgs, 240_000);
      }
      expect(refresh.code, refresh.output).toBe(0);
      steps.push(`refresh --clear-pending-creates (${pendingBefore.length} pending: ${pendingBefore.map((p) => `${p.type} ${p.resource.type}`).join(", ")})`);
      expect((await project.exportState()).deployment.pending_operations ?? []).toEqual([]);
      const up = await project.up();
      const recovered = (up.output.match(/\[lambda\] (adopting|terminating extra|terminating orphan|SSH key [^\n]*replacing it|filesystem [^\n]*adopting it)[^\n]*/g) ?? []).filter((l, i, all) => all.indexOf(l) === i);
      steps.push(`up (${up.code === 0 ? "ok" : `exit ${up.code}`}${recovered.length ? `: ${recovered.join("; ")}` : ""})`);
      expect(up.code, up.output).toBe(0);
      expect(live()).toHaveLength(1);
      const state = await project.exportState();
      const inState = state.deployment.resources?.filter((r) => r.type.endsWith("lambda:Instance")).map((r) => r.id);
      expect(inState).toEqual([live()[0]!.id]);
      expect(state.deployment.pending_operations ?? []).toEqual([]);
      const fsName = new RegExp(`^kill-cache-${index}-`);
      expect(emulator.state.filesystems().filter((f) => fsName.test(f.name))).toHaveLength(1);

      const destroy = await project.destroy();
      expect(destroy.code, destroy.output).toBe(0);
      expect(live()).toEqual([]);
      expect(emulator.state.filesystems().filter((f) => fsName.test(f.name))).toEqual([]);
      expect(emulator.state.firewallRulesets().filter((r) => r.name.includes(`kill${index}`))).toEqual([]);
      expect(emulator.state.sshKeys().filter((k) => k.name.includes(`kill${index}`))).toEqual([]);
      const after = await project.exportState();
      expect(after.deployment.pending_operations ?? []).toEqual([]);
      table.push(`${name} | ${afterKill.length} | ${lingering.length ? lingering.join(", ") : "none"} (providers exited) | ${steps.join(", ")} | 1 | 0`);
    } finally {
      // Whatever the killed CLI left that is still running was started by this test.
      for (const pid of orphans) if (isAlive(pid)) process.kill(pid, "SIGKILL");
      await project.dispose().catch(() => undefined);
    }
  });
});
