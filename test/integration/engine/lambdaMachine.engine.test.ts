/**
 * The REAL Pulumi engine (CLI from scripts/pulumi-toolchain.sh, local file backend, passphrase
 * secrets) running an Automation API inline program with our LambdaMachine component and its
 * dynamic resources against the Lambda API emulator: up → preview (no changes) → refresh →
 * destroy, with the API key given as secret stack config and checked absent, in plaintext, from
 * the state files and from everything the engine printed.
 *
 * Never skipped: without the toolchain the harness throws.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LambdaMachine } from "../../../components/host/lambdaMachine";
import { engineFastEnv, scaledRateLimit, startLambdaEmulator, type LambdaEmulator } from "../../fixtures/lambda-emulator";
import { createEngineStack, plaintextLeaks, type EngineStack } from "../../fixtures/pulumi-engine";

const PROJECT = "hgx-engine-test";
// The emulator enforces the vendor's limits compressed 100x (10 ms between requests, 120 ms between
// launches); the providers pace above them with a margin, as the product does at 1.2 s / 13 s.
const RATE_LIMIT = scaledRateLimit(0.01);
const FAST_API = engineFastEnv(RATE_LIMIT);

let emulator: LambdaEmulator;
beforeAll(async () => {
  delete process.env.LAMBDA_API_KEY; // the key must come from secret stack config only
  emulator = await startLambdaEmulator({ bootMs: 1500, terminateMs: 200, filesystemInUseAfterTerminateMs: 300, rateLimit: RATE_LIMIT });
});
afterAll(async () => {
  await emulator?.close();
});

function machineStack(opts: { stackName: string; retainFilesystem: boolean; filesystemName: string; stackId?: string }): Promise<EngineStack> {
  return createEngineStack({
    projectName: PROJECT,
    stackName: opts.stackName,
    program: async () => {
      const machine = new LambdaMachine("gpu", {
        regions: ["us-east-1", "us-west-1"],
        filesystemName: opts.filesystemName,
        retainFilesystemOnDelete: opts.retainFilesystem,
        apiBaseUrl: emulator.baseUrl,
        waitTimeout: "5m",
        stackId: opts.stackId,
      });
      return {
        stackId: machine.stackId,
        instanceId: machine.instanceId,
        ip: machine.ip,
        region: machine.region,
        hourlyPriceUsd: machine.hourlyPriceUsd,
        privateKey: machine.privateKey,
        cacheMountPath: machine.cacheMountPath,
      };
    },
    config: { [`${PROJECT}:lambdaApiKey`]: { value: emulator.apiKey, secret: true } },
    envVars: FAST_API,
  });
}

/** The body lines of a PEM/OpenSSH key: what would leak if the key were written out in plaintext. */
function keyBodyLines(privateKey: string): Record<string, string> {
  const lines = privateKey.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
  return Object.fromEntries(lines.map((l, i) => [`privateKey line ${i + 1}`, l]));
}

describe("LambdaMachine under the real engine", () => {
  it("up → preview → refresh → destroy leaves nothing billing and no secret in plaintext", async () => {
    const es = await machineStack({ stackName: "lifecycle", retainFilesystem: false, filesystemName: "engine-cache" });
    let destroyed = false;
    try {
      emulator.faults.throttle(2); // the engine run survives a 429 burst
      const up = await es.stack.up({ onOutput: es.onOutput, onEvent: es.onEvent });
      expect(up.summary.result).toBe("succeeded");
      expect(up.outputs.region.value).toBe("us-east-1");
      expect(up.outputs.ip.value).toBe("127.0.0.1");
      expect(up.outputs.cacheMountPath.value).toBe("/lambda/nfs/engine-cache");
      expect(up.outputs.hourlyPriceUsd.value).toBeGreaterThan(0);
      expect(up.outputs.privateKey.secret).toBe(true);
      expect(emulator.leakedInstances()).toHaveLength(1);

      const preview = await es.stack.preview({ onOutput: es.onOutput });
      expect(preview.changeSummary.create ?? 0).toBe(0);
      expect(preview.changeSummary.update ?? 0).toBe(0);
      expect(preview.changeSummary.replace ?? 0).toBe(0);
      expect(preview.changeSummary.delete ?? 0).toBe(0);

      const refresh = await es.stack.refresh({ onOutput: es.onOutput });
      expect(refresh.summary.result).toBe("succeeded");
      expect(refresh.summary.resourceChanges?.update ?? 0).toBe(0);

      const secrets = { lambdaApiKey: emulator.apiKey, ...keyBodyLines(String(up.outputs.privateKey.value)) };
      expect(Object.keys(secrets).length).toBeGreaterThan(1);
      expect(plaintextLeaks(es.backendText(), secrets)).toEqual([]);
      expect(plaintextLeaks(es.engineOutput(), secrets)).toEqual([]);
      // The state does hold the key's ciphertext: the check above is not vacuous.
      expect(es.backendText()).toContain("secure");

      const destroy = await es.stack.destroy({ onOutput: es.onOutput });
      destroyed = true;
      expect(destroy.summary.result).toBe("succeeded");
      expect(emulator.leakedInstances()).toEqual([]);
      expect(emulator.state.filesystems().map((f) => f.name).filter((n) => n.startsWith("engine-cache-"))).toEqual([]);
      expect(plaintextLeaks(es.engineOutput(), secrets)).toEqual([]);
    } finally {
      if (!destroyed) await es.stack.destroy({ onOutput: es.onOutput }).catch(() => undefined);
      await es.dispose();
    }
  });

  it("keeps a retained filesystem on destroy; another stack never adopts it; the same stack re-attaches it with its stackId", async () => {
    const kept = () => emulator.state.filesystems().filter((f) => f.name.startsWith("kept-cache-"));
    const first = await machineStack({ stackName: "retain-a", retainFilesystem: true, filesystemName: "kept-cache" });
    let stackId = "";
    try {
      const up = await first.stack.up({ onOutput: first.onOutput });
      expect(up.summary.result).toBe("succeeded");
      stackId = String(up.outputs.stackId.value);
      expect(stackId).toMatch(/^[0-9a-f]{16}$/);
      await first.stack.destroy({ onOutput: first.onOutput });
    } finally {
      await first.dispose();
    }
    expect(emulator.leakedInstances()).toEqual([]);
    const retained = kept();
    expect(retained).toHaveLength(1);

    // Another stack configured with the same filesystem name gets its own; the retained one is untouched.
    const other = await machineStack({ stackName: "retain-b", retainFilesystem: false, filesystemName: "kept-cache" });
    try {
      const up = await other.stack.up({ onOutput: other.onOutput });
      expect(up.summary.result).toBe("succeeded");
      expect(kept()).toHaveLength(2);
      await other.stack.destroy({ onOutput: other.onOutput });
    } finally {
      await other.dispose();
    }
    expect(kept()).toEqual(retained);

    // The same stack, redeployed after the full destroy with its stackId: adopts the retained filesystem.
    const again = await machineStack({ stackName: "retain-a", retainFilesystem: false, filesystemName: "kept-cache", stackId });
    try {
      const up = await again.stack.up({ onOutput: again.onOutput });
      expect(up.summary.result).toBe("succeeded");
      expect(up.outputs.stackId.value).toBe(stackId);
      expect(up.outputs.region.value).toBe(retained[0]!.region.name);
      expect(up.outputs.cacheMountPath.value).toBe("/lambda/nfs/kept-cache");
      expect(kept().map((f) => f.id)).toEqual([retained[0]!.id]);
      await again.stack.destroy({ onOutput: again.onOutput });
    } finally {
      await again.dispose();
    }
    expect(kept()).toEqual([]);
    expect(emulator.leakedInstances()).toEqual([]);
  });

  it("an instance that boots unhealthy fails the update clearly and is terminated, not left billing", async () => {
    const es = await machineStack({ stackName: "unhealthy", retainFilesystem: false, filesystemName: "sick-cache" });
    try {
      emulator.faults.bootUnhealthy(1);
      await expect(es.stack.up({ onOutput: es.onOutput })).rejects.toThrow(/unhealthy/);
      expect(emulator.leakedInstances()).toEqual([]);
      expect(plaintextLeaks(es.engineOutput(), { lambdaApiKey: emulator.apiKey })).toEqual([]);
    } finally {
      await es.dispose();
    }
    expect(emulator.leakedInstances()).toEqual([]);
  });
});
