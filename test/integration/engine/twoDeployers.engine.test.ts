/**
 * Two people deploy `dev` from ONE repository, each to their own self-managed backend (organization "organization"
 * on both, the same stack file, no lambdaStackId): the real engine runs the LambdaMachine program against the Lambda
 * emulator. Their identities differ; A's teardown as scripts/down.sh does it (`pulumi destroy --target` of
 * `teardownTargets` of the exported state) keeps A's identity and filesystem in A's state and no id in any file, so
 * A's next `up` re-attaches A's filesystem; B's full destroy never touches A's instance, SSH key or filesystem.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LambdaMachine } from "../../../components/host/lambdaMachine";
import { teardownTargets } from "../../../components/ops/downTargets";
import { engineFastEnv, scaledRateLimit, startLambdaEmulator, type LambdaEmulator } from "../../fixtures/lambda-emulator";
import { createEngineStack, type EngineStack } from "../../fixtures/pulumi-engine";

const PROJECT = "hgx-inference";
const RATE_LIMIT = scaledRateLimit(0.01);
let emulator: LambdaEmulator;
const stacks: EngineStack[] = [];

beforeAll(async () => {
  delete process.env.LAMBDA_API_KEY;
  emulator = await startLambdaEmulator({ bootMs: 500, terminateMs: 100, filesystemInUseAfterTerminateMs: 100, rateLimit: RATE_LIMIT });
});
afterAll(async () => {
  for (const s of stacks) await s.dispose().catch(() => undefined);
  await emulator?.close();
});

/** `dev` on a fresh backend: what each deployer's `pulumi up` of this repository creates. */
async function devOnOwnBackend(): Promise<EngineStack> {
  const es = await createEngineStack({
    projectName: PROJECT,
    stackName: "dev",
    program: async () => {
      const m = new LambdaMachine("hgx", { regions: ["us-east-1"], filesystemName: "hgx-dev-hf-cache", retainFilesystemOnDelete: true, apiBaseUrl: emulator.baseUrl, waitTimeout: "5m" });
      return { stackId: m.stackId, instanceId: m.instanceId };
    },
    config: { [`${PROJECT}:lambdaApiKey`]: { value: emulator.apiKey, secret: true } },
    envVars: engineFastEnv(RATE_LIMIT),
  });
  stacks.push(es);
  return es;
}

const live = (id: string) => !["terminating", "terminated"].includes(emulator.state.instance(id)!.status);
const keyOf = (id: string) => emulator.state.instance(id)!.ssh_key_names[0]!;
const keyExists = (name: string) => emulator.state.sshKeys().some((k) => k.name === name);

describe("two deployers of dev from one repository", () => {
  it("get their own identities; A's down keeps A's id in A's state, and B's destroy never touches A's objects", async () => {
    const a = await devOnOwnBackend();
    const b = await devOnOwnBackend();
    const upA = await a.stack.up({ onOutput: a.onOutput });
    const upB = await b.stack.up({ onOutput: b.onOutput });
    const [idA, idB] = [String(upA.outputs.stackId.value), String(upB.outputs.stackId.value)];
    expect(idA).toMatch(/^[0-9a-f]{16}$/);
    expect(idB).not.toBe(idA);
    const [instA, instB] = [String(upA.outputs.instanceId.value), String(upB.outputs.instanceId.value)];
    expect(keyOf(instA)).not.toBe(keyOf(instB));
    const filesystems = emulator.state.filesystems().filter((f) => f.name.startsWith("hgx-dev-hf-cache-"));
    expect(filesystems).toHaveLength(2);
    const fsA = filesystems.find((f) => emulator.state.instance(instA)!.file_system_names.includes(f.name))!;

    // A's teardown, as scripts/down.sh does it.
    const targets = teardownTargets(await a.stack.exportStack(), { retainFilesystem: true });
    expect(targets.some((u) => u.endsWith("::hgx-instance"))).toBe(true);
    expect(targets.some((u) => /StackIdentity::|Filesystem::/.test(u))).toBe(false);
    await a.stack.destroy({ target: targets, targetDependents: true, onOutput: a.onOutput });
    expect(live(instA)).toBe(false);
    expect(keyExists(keyOf(instA))).toBe(false);
    expect(live(instB)).toBe(true);
    expect(keyExists(keyOf(instB))).toBe(true);

    // A's next up: the same identity, from A's own state, re-attaches A's filesystem; nothing new is created.
    const again = await a.stack.up({ onOutput: a.onOutput });
    expect(again.outputs.stackId.value).toBe(idA);
    const instA2 = String(again.outputs.instanceId.value);
    expect(emulator.state.instance(instA2)!.file_system_names).toEqual([fsA.name]);
    expect(emulator.state.filesystems().filter((f) => f.name.startsWith("hgx-dev-hf-cache-"))).toHaveLength(2);

    // B's full destroy: B's objects go, A's stay.
    await b.stack.destroy({ onOutput: b.onOutput });
    expect(live(instB)).toBe(false);
    expect(live(instA2)).toBe(true);
    expect(keyExists(keyOf(instA2))).toBe(true);
    expect(emulator.state.filesystems().map((f) => f.name)).toContain(fsA.name);

    await a.stack.destroy({ onOutput: a.onOutput });
    expect(emulator.leakedInstances()).toEqual([]);
  }, 600_000);
});
