/**
 * A production stack that would open SSH to the world is refused at `pulumi preview` by the real CLI and the real
 * Node.js language host running this project's index.ts: the message names the setting and the fix, and nothing is
 * created (the program stops at its config check, before any resource or API call). Preview only: seconds.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createProjectStack, type EngineStack } from "../../fixtures/pulumi-engine";

let engine: EngineStack | undefined;

afterEach(async () => {
  await engine?.dispose().catch(() => undefined);
  engine = undefined;
});

async function previewError(stackName: string, config: Record<string, string>): Promise<string> {
  engine = await createProjectStack({
    stackName,
    baseStackFile: "Pulumi.dev.yaml",
    config: {
      "hgx-inference:lambdaApiKey": { value: "sk-engine-not-a-real-key", secret: true },
      // Never reached: the config check fails first. Loopback all the same.
      "hgx-inference:lambdaApiUrl": { value: "http://127.0.0.1:9/api/v1" },
      ...Object.fromEntries(Object.entries(config).map(([k, v]) => [`hgx-inference:${k}`, { value: v }])),
    },
  });
  const printed: string[] = [];
  const result = await engine.stack.preview({ onOutput: (l) => printed.push(l) }).then(
    () => undefined,
    (err: Error) => err,
  );
  expect(result, "the preview must fail").toBeInstanceOf(Error);
  return `${result?.message ?? ""}\n${printed.join("")}`;
}

const FIX = "Fix: list only the networks that deploy and operate the host: pulumi config set --path 'hgx-inference:lambdaSshAllowlist[0]' <your-ip>/32";

describe("pulumi preview of a production stack with SSH open to the world", () => {
  it("is refused on a stack named prod (the default allowlist is the world), naming the key and the fix", async () => {
    const out = await previewError("prod", {});
    expect(out).toContain(`hgx-inference:lambdaSshAllowlist: = ["0.0.0.0/0"] opens SSH to the world (0.0.0.0/0 reaches every IPv4 address) on a protected stack (production stack 'prod'). ${FIX}`);
    expect(out).not.toContain("sk-engine-not-a-real-key");
  }, 300_000);

  it("is refused on any stack that says production: true", async () => {
    const out = await previewError("live", { production: "true" });
    expect(out).toContain(`on a protected stack (production: true). ${FIX}`);
  }, 300_000);
});
