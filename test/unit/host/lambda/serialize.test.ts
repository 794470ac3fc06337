// Every provider must survive Pulumi's closure serialization, and the serialized text must run
// in a separate plain Node process (as in Pulumi's dynamic-provider host) with nothing but
// node_modules and the environment.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FilesystemProvider } from "../../../../components/host/lambda/filesystem";
import { FirewallAdmissionProvider, FirewallRulesetProvider } from "../../../../components/host/lambda/firewallRuleset";
import { InstanceProvider } from "../../../../components/host/lambda/instance";
import { SshKeyProvider } from "../../../../components/host/lambda/sshKey";
import { LAMBDA_PROVIDER_VERSION } from "../../../../components/host/lambda/common";
import { startLambdaEmulator, withoutRateLimitRetries, type LambdaEmulator } from "../../../fixtures/lambda-emulator";
import { FAST_ENV, TEST_RATE_LIMIT } from "./harness";

const providers = {
  SshKeyProvider: () => new SshKeyProvider(),
  FilesystemProvider: () => new FilesystemProvider(),
  FirewallRulesetProvider: () => new FirewallRulesetProvider(),
  FirewallAdmissionProvider: () => new FirewallAdmissionProvider(),
  InstanceProvider: () => new InstanceProvider(),
};

let emu: LambdaEmulator;
let dir: string;
beforeAll(async () => {
  emu = await startLambdaEmulator({ rateLimit: TEST_RATE_LIMIT });
  dir = mkdtempSync(join(tmpdir(), "hgx-lambda-serialize-"));
});
afterAll(async () => {
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});

function runNode(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["-e", script],
      { env: { PATH: process.env.PATH ?? "", NODE_PATH: resolve(__dirname, "../../../../node_modules"), ...env }, timeout: 20_000 },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("provider serialization", () => {
  it.each(Object.keys(providers) as (keyof typeof providers)[])("%s serializes without capturing clients or secrets", async (name) => {
    const provider = providers[name]();
    const sf = await pulumi.runtime.serializeFunction(() => provider);
    expect(sf.text.length).toBeGreaterThan(0);
    // axios is required inside methods, never captured; no key or base URL baked in.
    expect(sf.text).toContain('require("axios")');
    expect(sf.text).not.toContain(emu.apiKey);
    expect(sf.text).not.toMatch(/__vi_import|__vite_ssr_dynamic_import__/);
  });

  it("the serialized SshKey and Instance providers run in a plain Node process against the emulator", async () => {
    const key = await pulumi.runtime.serializeFunction(() => new SshKeyProvider());
    const inst = await pulumi.runtime.serializeFunction(() => new InstanceProvider());
    writeFileSync(join(dir, "key.js"), key.text);
    writeFileSync(join(dir, "inst.js"), inst.text);
    const script = `
      const key = require(${JSON.stringify(join(dir, "key.js"))}).${key.exportName}();
      const inst = require(${JSON.stringify(join(dir, "inst.js"))}).${inst.exportName}();
      (async () => {
        // configure() delivers the stack config; the key is read from it, not from the inputs.
        await key.configure({ config: { get: (k) => (k === "proj:lambdaApiKey" ? process.env.KEY_FROM_CONFIG : undefined) } });
        const created = await key.create({ providerVersion: "${LAMBDA_PROVIDER_VERSION}", keyName: "serialized", apiKeyConfigKey: "proj:lambdaApiKey" });
        const checked = await inst.check({}, { providerVersion: "1", regions: [], instanceType: "x" });
        await key.delete(created.id, created.outs);
        // Error paths: typed errors are built and matched with instanceof inside the serialized code.
        process.env.LAMBDA_API_KEY = process.env.KEY_FROM_CONFIG;
        const gone = await inst.read("0123456789abcdef0123456789abcdef", { providerVersion: "1" });
        let fatal = "";
        process.env.LAMBDA_API_KEY = "wrong-key";
        try { await inst.read("x", { providerVersion: "1" }); } catch (e) { fatal = e.name + ": " + e.message; }
        console.log(JSON.stringify({ id: created.id, generated: created.outs.privateKey.includes("PRIVATE KEY"), failures: checked.failures.map((f) => f.property), goneId: gone.id, fatal }));
      })().catch((e) => { console.error("FAILED: " + e.message); process.exit(3); });
    `;
    const res = await runNode(script, {
      KEY_FROM_CONFIG: emu.apiKey,
      LAMBDA_API_BASE_URL: emu.baseUrl,
      LAMBDA_API_REQUEST_INTERVAL_MS: FAST_ENV.LAMBDA_API_REQUEST_INTERVAL_MS,
    });
    expect(withoutRateLimitRetries(res.stderr)).toBe("");
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout.trim().split("\n").pop() ?? "{}");
    expect(out.generated).toBe(true);
    expect(out.failures).toContain("regions");
    expect(out.failures).toContain("sshKeyName");
    expect(out.goneId).toBe("");
    expect(out.fatal).toMatch(/^InvalidApiKeyError: .*API key was rejected/);
    expect(emu.state.sshKeys()).toEqual([]);
    expect(res.stdout + res.stderr).not.toContain(emu.apiKey);
  });
});
