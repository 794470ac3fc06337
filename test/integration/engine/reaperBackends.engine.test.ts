/**
 * The reaper reads "which dev" from the current backend, through the REAL pulumi CLI: two self-managed file backends
 * each hold a `dev` stack of this project whose state has a real StackIdentity (the dynamic resource every
 * LambdaMachine creates; same organization "organization", project and stack name, different random ids). Each
 * backend's instance, tagged as the launch tags it, is expired in the Lambda emulator; `--confirm --stack dev` run
 * against backend A (PULUMI_BACKEND_URL, cwd = its project dir) terminates A's instance only, and B's run B's only.
 */
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expiryFor, instanceTags } from "../../../components/host/lambda/instance";
import { StackIdentity } from "../../../components/host/lambda/identity";
import { pulumiOwnerSource, runReaper, type ReaperOwner } from "../../../components/ops/reaper";
import { startLambdaEmulator, type LambdaEmulator } from "../../fixtures/lambda-emulator";
import { createEngineStack, engineEnv, type EngineStack } from "../../fixtures/pulumi-engine";

const PROJECT = "hgx-inference";
let emulator: LambdaEmulator;
const backends: EngineStack[] = [];

beforeAll(async () => {
  emulator = await startLambdaEmulator({ bootMs: 0, terminateMs: 0 });
  // Pacing is not what this test is about: the limiter is off, and the reaper's client paces at 20 ms.
  emulator.faults.rateLimit(null);
  emulator.seed.sshKey("reaper-test", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxz0v3rW6fJtq4s0wVfXW0m3R3y7Ww0Zq5CwzJ2l7bq reaper@test");
});
afterAll(async () => {
  for (const b of backends) await b.dispose().catch(() => undefined);
  await emulator?.close();
});

/** A fresh file backend with a deployed `dev` stack whose state holds one machine identity. */
async function devOnNewBackend(): Promise<EngineStack> {
  const engine = await createEngineStack({
    projectName: PROJECT,
    stackName: "dev",
    program: async () => {
      const id = new StackIdentity("hgx-machine-identity", { organization: pulumi.getOrganization(), project: pulumi.getProject(), stack: pulumi.getStack(), resource: "hgx-machine" });
      return { stackId: id.uid };
    },
  });
  backends.push(engine);
  await engine.stack.up({ onOutput: engine.onOutput });
  return engine;
}

/** The environment a user of that backend has: logged in to it (PULUMI_BACKEND_URL), its passphrase. */
const userEnv = (engine: EngineStack): NodeJS.ProcessEnv => ({ ...process.env, ...engineEnv(engine.backendDir, `test-passphrase-${process.pid}`), LAMBDA_API_KEY: emulator.apiKey, LAMBDA_API_BASE_URL: emulator.baseUrl, LAMBDA_API_REQUEST_INTERVAL_MS: "20" });

async function launchExpired(name: string, owner: ReaperOwner): Promise<string> {
  const t = instanceTags({ organization: owner.organization!, project: owner.project, stack: owner.stack!, resourceName: "hgx-machine", stackUid: owner.uid, ttlSeconds: 3600 }, expiryFor(3600, new Date(Date.now() - 2 * 3_600_000)));
  const res = await fetch(`${emulator.baseUrl}/instance-operations/launch`, {
    method: "POST",
    headers: { authorization: `Bearer ${emulator.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ region_name: "us-east-1", instance_type_name: "gpu_8x_b200_sxm6", ssh_key_names: ["reaper-test"], name, tags: t }),
  });
  if (!res.ok) throw new Error(`launch ${name}: HTTP ${res.status} ${await res.text()}`);
  const json = (await res.json()) as { data: { instance_ids: string[] } };
  return json.data.instance_ids[0]!;
}

describe("reaper: two backends' dev stacks, through the pulumi CLI", () => {
  it("reads each backend's own identity, and each --confirm --stack dev terminates only its own instance", async () => {
    const [a, b] = [await devOnNewBackend(), await devOnNewBackend()];
    const ownersA = await pulumiOwnerSource({ cwd: a.stack.workspace.workDir, env: userEnv(a) }).owners("dev");
    const ownersB = await pulumiOwnerSource({ cwd: b.stack.workspace.workDir, env: userEnv(b) }).owners("dev");
    expect(ownersA).toHaveLength(1);
    expect(ownersB).toHaveLength(1);
    expect(ownersA[0]).toMatchObject({ organization: "organization", project: PROJECT, stack: "dev" });
    expect(ownersB[0]).toMatchObject({ organization: "organization", project: PROJECT, stack: "dev" });
    expect(ownersA[0]!.uid).toBe((await a.stack.outputs()).stackId?.value);
    expect(ownersA[0]!.uid).not.toBe(ownersB[0]!.uid);

    const idA = await launchExpired("dev-a", ownersA[0]!);
    const idB = await launchExpired("dev-b", ownersB[0]!);
    const status = (id: string) => emulator.state.instance(id)!.status;
    const gone = (id: string) => ["terminating", "terminated"].includes(status(id));

    const reapAs = async (engine: EngineStack) => {
      const out: string[] = [];
      const err: string[] = [];
      // The CLI reads the project from its directory, as `npm run reaper` in a checkout does.
      const code = await runReaper(["--confirm", "--stack", "dev"], { out: (l) => out.push(l), err: (l) => err.push(l), env: userEnv(engine), cwd: engine.stack.workspace.workDir });
      return { code, out: out.join("\n"), err: err.join("\n") };
    };
    const fromA = await reapAs(a);
    expect(fromA.code, fromA.err).toBe(0);
    expect(gone(idA)).toBe(true);
    expect(status(idB)).toBe("active");
    const fromB = await reapAs(b);
    expect(fromB.code, fromB.err).toBe(0);
    expect(gone(idB)).toBe(true);
  }, 300_000);
});
