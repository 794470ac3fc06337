/**
 * Every failure path of the Lambda layer through `pulumi up` as a user runs it: the real CLI, the
 * real Node.js language host compiling the program with SWC, and the dynamic providers serialized
 * into Pulumi's provider host, where the project's error classes are copies (an error built there
 * is not `instanceof` the class the code names). Before errors were recognized by their `kind`,
 * every typed error reached the user as `error: [object Object]` here and the retry after a 5xx on
 * the launch never ran, although the same provider called in-process behaved.
 *
 * One stack goes through the scenarios in turn (each an `up` or `destroy`), the emulator's timings
 * compressed. Each scenario asserts the message the user saw, verbatim where the README's
 * troubleshooting table quotes it, and the API calls that followed the fault.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineFastEnv, scaledRateLimit, startLambdaEmulator, type LambdaEmulator, type RequestLogEntry } from "../../fixtures/lambda-emulator";
import { createLambdaProject, type CliResult, type LambdaProject } from "../../fixtures/lambda-engine-project";

const RATE_LIMIT = scaledRateLimit(0.01);
const TYPE = "gpu_8x_b200_sxm6";

let emulator: LambdaEmulator;
let project: LambdaProject;
/** scenario → message → calls after → instances at the end, printed for the closing note. */
const table: string[] = [];
/** Everything the CLI printed, for the secret scan. */
const printed: string[] = [];

beforeAll(async () => {
  emulator = await startLambdaEmulator({ bootMs: 1_500, terminateMs: 200, rateLimit: RATE_LIMIT });
  project = await createLambdaProject({
    stackName: "failures",
    config: {
      lambdaRegions: JSON.stringify(["us-east-1", "us-west-1"]),
      lambdaFilesystemName: "fail-cache",
      lambdaApiUrl: emulator.baseUrl,
      lambdaPinnedRegionPolicy: "wait",
      lambdaPinnedRegionWait: "1s",
      lambdaBootTimeout: "5m",
    },
    secretConfig: { lambdaApiKey: emulator.apiKey },
    env: { ...engineFastEnv(RATE_LIMIT), LAMBDA_CAPACITY_RETRY_MS: "200" },
  });
}, 600_000);

afterAll(async () => {
  await project?.dispose().catch(() => undefined);
  const leaked = emulator?.leakedInstances() ?? [];
  await emulator?.close();
  console.log(`\nscenario | message the user saw | API calls after the fault | instances at the end\n${table.join("\n")}`);
  expect(leaked.map((i) => i.id)).toEqual([]);
});

/** `METHOD /path STATUS [code]` of requests from index `from`, without the rate limiter's jitter 429s. */
function callsFrom(from: number, keep: (r: RequestLogEntry) => boolean = () => true): string[] {
  return emulator
    .requests()
    .slice(from)
    .filter((r) => r.fault !== "rateLimit" && keep(r))
    .map((r) => `${r.method} ${r.path.replace(/^\/api\/v1/, "").replace(/\/[0-9a-f]{32}$/, "/<id>")} ${r.status}${r.errorCode ? ` ${r.errorCode}` : ""}`);
}
const mutating = (r: RequestLogEntry) => r.method !== "GET";
const live = () => emulator.state.instances().filter((i) => i.status !== "terminated" && i.status !== "terminating");

async function logged(run: Promise<CliResult>): Promise<CliResult> {
  const r = await run;
  printed.push(r.output);
  return r;
}

/** The `error:` lines of the CLI's diagnostics, joined. */
function errorText(r: CliResult): string {
  return r.output
    .split("\n")
    .filter((l) => /^\s*error: /.test(l))
    .join("\n");
}

async function instanceUrn(): Promise<string> {
  const state = await project.exportState();
  const urn = state.deployment.resources?.find((r) => r.type.endsWith("lambda:Instance"))?.urn;
  if (!urn) throw new Error("no instance in the stack's state");
  return urn;
}

function record(scenario: string, message: string, after: string[], instances: number): void {
  table.push(`${scenario} | ${message.replace(/\s+/g, " ").slice(0, 240)} | ${after.join(", ")} | ${instances}`);
}

describe("Lambda failure paths under the real engine", () => {
  let fsName = "";

  it("capacity refused in every region: the README's message, the empty filesystem moved along, nothing billing", async () => {
    emulator.faults.setCapacity(TYPE, []); // not listed anywhere, and every launch refused
    // 5xx on every kind of write the deploy makes before the launch: each is retried by the client.
    for (const p of ["/ssh-keys", "/filesystems", "/firewall-rulesets"]) emulator.faults.serverErrors(1, { status: 503, match: { method: "POST", path: p } });
    const from = emulator.requests().length;
    const up = await logged(project.up());
    expect(up.code, up.output).not.toBe(0);
    fsName = emulator.state.filesystems()[0]!.name;
    expect(fsName).toMatch(/^fail-cache-[0-9a-f]{12}$/);
    const message =
      `No capacity for ${TYPE} in us-east-1, us-west-1 right now. Every region in lambdaRegions was tried in turn (us-east-1, us-west-1). ` +
      `The empty filesystem "${fsName}" followed each attempt and now lives in us-west-1. Re-run later, or add regions to lambdaRegions.`;
    expect(errorText(up)).toContain(message);
    expect(up.output).not.toContain("[object Object]");
    const writes = callsFrom(from, mutating);
    for (const p of ["/ssh-keys", "/filesystems", "/firewall-rulesets"]) {
      const i = writes.findIndex((c) => c.startsWith(`POST ${p} 503`));
      expect(i, `a 503 on POST ${p}`).toBeGreaterThanOrEqual(0);
      // The retry is the next write to the same path: the three resources are created side by side, so another's
      // write may come between (seen under load).
      expect(writes.slice(i + 1).find((c) => c.startsWith(`POST ${p} `)), `the retry of POST ${p}`).toMatch(new RegExp(`^POST ${p} 20\\d`));
    }
    const launchTail = writes.slice(writes.findIndex((c) => c.startsWith("POST /instance-operations/launch")));
    expect(launchTail).toEqual([
      "POST /instance-operations/launch 400 instance-operations/launch/insufficient-capacity",
      "DELETE /filesystems/<id> 200",
      "POST /filesystems 200",
      "POST /instance-operations/launch 400 instance-operations/launch/insufficient-capacity",
    ]);
    expect(live()).toEqual([]);
    record("capacity refused in every region", message, launchTail, live().length);
  });

  it("a filesystem from an earlier deploy pinned to a refusing region, policy wait: the README's message after the wait", async () => {
    emulator.faults.reset();
    emulator.faults.refuseLaunchIn("us-west-1", 1_000);
    const from = emulator.requests().length;
    const up = await logged(project.up());
    expect(up.code, up.output).not.toBe(0);
    const message =
      `Filesystem "${fsName}" (which may hold the weights) pins the launch to us-west-1, and no capacity appeared there within 0m 01s of retries. ` +
      `Re-run later, raise lambdaPinnedRegionWait, or set lambdaPinnedRegionPolicy to "elsewhere" to launch in another region without it ` +
      `(the weights are then downloaded to local disk).`;
    expect(errorText(up)).toContain(message);
    expect(up.output).not.toContain("[object Object]");
    const writes = callsFrom(from, mutating);
    // Only the pinned region was tried, several times (200 ms apart within the 1 s wait); nothing moved.
    expect(writes.length).toBeGreaterThanOrEqual(3);
    expect(new Set(writes)).toEqual(new Set(["POST /instance-operations/launch 400 instance-operations/launch/insufficient-capacity"]));
    expect(emulator.requests().slice(from).filter((r) => r.method === "POST" && r.path.endsWith("/launch")).length).toBe(writes.length);
    expect(live()).toEqual([]);
    record("pinned filesystem region refusing (wait)", message, [`${writes.length} x POST /instance-operations/launch 400 (us-west-1 only)`], 0);
  });

  it("a 503 on the launch itself, a 429 burst and 5xx on reads: looks for the instance, retries the launch once, one instance", async () => {
    emulator.faults.reset();
    emulator.faults.throttle(3);
    emulator.faults.serverErrors(1, { status: 500, match: { method: "GET", path: "/instances" } });
    emulator.faults.serverErrors(1, { status: 502, match: { method: "GET", path: "/instance-types" } });
    emulator.faults.serverErrors(1, { status: 503, match: { method: "POST", path: "/instance-operations/launch" } });
    const from = emulator.requests().length;
    const up = await logged(project.up());
    expect(up.output).not.toContain("[object Object]");
    expect(up.code, up.output).toBe(0);
    const message = up.output.match(/launch in us-west-1 answered global\/internal-error and no instance appeared; retrying \(1\/3\)/)?.[0] ?? "";
    expect(message, up.output).not.toBe("");
    const calls = callsFrom(from);
    const i = calls.indexOf("POST /instance-operations/launch 503 global/internal-error");
    expect(i).toBeGreaterThanOrEqual(0);
    // The lookup of an instance the failed call may have created, then the one retry.
    const after = calls.slice(i + 1, i + 3);
    expect(after).toEqual(["GET /instances 200", "POST /instance-operations/launch 200"]);
    expect(calls.filter((c) => c.startsWith("POST /instance-operations/launch"))).toHaveLength(2);
    expect(calls.filter((c) => / 429/.test(c))).toHaveLength(3);
    expect(live()).toHaveLength(1);
    expect(live()[0]!.region.name).toBe("us-west-1"); // where the pinned filesystem lives
    record("503 on launch (+3 x 429, 5xx on GET /instances and /instance-types)", message, after, live().length);
  });

  it("an instance that boots unhealthy: the README's message, terminated", async () => {
    emulator.faults.reset();
    emulator.faults.bootUnhealthy(1);
    const urn = await instanceUrn();
    const from = emulator.requests().length;
    const up = await logged(project.up(["--replace", urn]));
    expect(up.code, up.output).not.toBe(0);
    const text = errorText(up);
    expect(text).toMatch(/Lambda instance [0-9a-f]{32} \(gpu_8x_b200_sxm6\) became unhealthy while booting \(a known HGX failure mode\); it was terminated so it does not keep billing\./);
    expect(text).toContain("put other regions first in lambdaRegions or raise lambdaBootTimeout (now 5m 00s)");
    expect(up.output).not.toContain("[object Object]");
    const writes = callsFrom(from, mutating);
    expect(writes.slice(-1)).toEqual(["POST /instance-operations/terminate 200"]);
    expect(live()).toEqual([]);
    record("unhealthy boot", text.match(/Lambda instance .*? became unhealthy[^;]*; it was terminated so it does not keep billing/)?.[0] ?? text, writes.slice(-1), 0);
  });

  it("a lost launch response (instance created, 500 answered): found by its tags, not launched twice", async () => {
    emulator.faults.reset();
    emulator.faults.loseLaunchResponses(1);
    const from = emulator.requests().length;
    const up = await logged(project.up());
    expect(up.code, up.output).toBe(0);
    const message = up.output.match(/launch in us-west-1 answered \S+, but instance [0-9a-f]{32} with this resource's tags exists: using it/)?.[0] ?? "";
    expect(message, up.output).not.toBe("");
    const calls = callsFrom(from);
    const i = calls.findIndex((c) => c.startsWith("POST /instance-operations/launch 500"));
    expect(calls.slice(i + 1, i + 2)).toEqual(["GET /instances 200"]);
    expect(calls.filter((c) => c.startsWith("POST /instance-operations/launch"))).toHaveLength(1);
    expect(live()).toHaveLength(1);
    record("lost launch response (500 after creating)", message, calls.slice(i + 1, i + 2), 1);
  });

  it("boot timeout: the README's message naming lambdaBootTimeout, terminated", async () => {
    emulator.faults.reset();
    emulator.faults.bootSlowMs(120_000);
    await project.setConfig("testBootTimeoutSeconds", "3");
    const urn = await instanceUrn();
    const from = emulator.requests().length;
    const up = await logged(project.up(["--replace", urn]));
    await project.removeConfig("testBootTimeoutSeconds");
    expect(up.code, up.output).not.toBe(0);
    const text = errorText(up);
    const message = text.match(/Lambda instance [0-9a-f]{32} \(gpu_8x_b200_sxm6\) was still "booting" after the boot timeout of 0m 03s; it was terminated so it does not keep billing\./)?.[0] ?? "";
    expect(message, text).not.toBe("");
    expect(text).toContain("raise lambdaBootTimeout (now 0m 03s)");
    expect(text).not.toMatch(/waitTimeout|\(regions\)/);
    const writes = callsFrom(from, mutating);
    expect(writes.slice(-1)).toEqual(["POST /instance-operations/terminate 200"]);
    expect(live()).toEqual([]);
    record("boot timeout", message, writes.slice(-1), 0);
  });

  it("destroy through terminate lag, a 5xx on terminate and a filesystem still in use: nothing left, no pending operation", async () => {
    emulator.faults.reset();
    const up = await logged(project.up());
    expect(up.code, up.output).toBe(0);
    expect(live(), up.output).toHaveLength(1);
    emulator.faults.terminateLagMs(1_500);
    emulator.faults.filesystemInUseFor(1_500);
    emulator.faults.serverErrors(1, { status: 503, match: { method: "POST", path: "/instance-operations/terminate" } });
    const from = emulator.requests().length;
    const destroy = await logged(project.destroy());
    expect(destroy.code, destroy.output).toBe(0);
    const writes = callsFrom(from, mutating);
    expect(writes.slice(0, 2)).toEqual(["POST /instance-operations/terminate 503 global/internal-error", "POST /instance-operations/terminate 200"]);
    const fsDeletes = writes.filter((c) => c.startsWith("DELETE /filesystems/"));
    expect(fsDeletes.length).toBeGreaterThan(1);
    expect(fsDeletes.slice(0, -1).every((c) => c.includes("filesystems/filesystem-in-use"))).toBe(true);
    expect(fsDeletes.slice(-1)).toEqual(["DELETE /filesystems/<id> 200"]);
    expect(live()).toEqual([]);
    expect(emulator.state.filesystems()).toEqual([]);
    const state = await project.exportState();
    expect(state.deployment.pending_operations ?? []).toEqual([]);
    expect(state.deployment.resources ?? []).toEqual([]);
    record("destroy: terminate lag + 503 on terminate + filesystem in use", "(destroy succeeded)", [writes[0]!, writes[1]!, `${fsDeletes.length - 1} x DELETE /filesystems in use`, "DELETE /filesystems 200"], 0);
  });

  it("no run printed the API key", () => {
    expect(printed.length).toBeGreaterThan(3);
    expect(printed.join("\n")).not.toContain(emulator.apiKey);
  });

  it("a rejected API key: the README's message, no retry, nothing created", async () => {
    emulator.faults.reset();
    emulator.faults.expireKey();
    const from = emulator.requests().length;
    const up = await logged(project.up());
    emulator.faults.restoreKey();
    expect(up.code, up.output).not.toBe(0);
    const text = errorText(up);
    expect(text).toContain("The Lambda Cloud API key was rejected (invalid, expired or deleted). Create a new key and use it.");
    expect(up.output).not.toContain("[object Object]");
    const calls = callsFrom(from);
    expect(calls.every((c) => c.includes(" 401 global/invalid-api-key"))).toBe(true);
    expect(callsFrom(from, mutating)).toEqual([]);
    expect(emulator.state.filesystems()).toEqual([]);
    expect(live()).toEqual([]);
    record("bad API key", "The Lambda Cloud API key was rejected (invalid, expired or deleted). Create a new key and use it. …", [`${calls.length} x GET 401, no write`], 0);
  });
});
