import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { KEPT_TYPES, teardownTargets } from "../../../components/ops/downTargets";

const repoRoot = path.resolve(__dirname, "..", "..", "..");
const urn = (type: string, name: string) => `urn:pulumi:dev::hgx-inference::hgx:host:HgxHost$hgx:host:LambdaMachine$${type}::${name}`;
const exported = {
  version: 3,
  deployment: {
    resources: [
      { urn: "urn:pulumi:dev::hgx-inference::pulumi:pulumi:Stack::hgx-inference-dev", type: "pulumi:pulumi:Stack", custom: false },
      { urn: "urn:pulumi:dev::hgx-inference::pulumi:providers:command::default_1_2_1", type: "pulumi:providers:command", custom: true },
      { urn: urn("hgx:host:LambdaMachine", "hgx-machine"), type: "hgx:host:LambdaMachine", custom: false },
      { urn: urn(KEPT_TYPES.identity, "hgx-machine-identity"), type: KEPT_TYPES.identity, custom: true },
      { urn: urn(KEPT_TYPES.filesystem, "hgx-machine-filesystem"), type: KEPT_TYPES.filesystem, custom: true },
      { urn: urn("pulumi-nodejs:dynamic/lambda:SshKey", "hgx-machine-ssh-key"), type: "pulumi-nodejs:dynamic/lambda:SshKey", custom: true },
      { urn: urn("pulumi-nodejs:dynamic/lambda:Instance", "hgx-machine-instance"), type: "pulumi-nodejs:dynamic/lambda:Instance", custom: true },
      { urn: urn("pulumi-nodejs:dynamic/lambda:Instance", "hgx-machine-instance"), type: "pulumi-nodejs:dynamic/lambda:Instance", custom: true, delete: true },
      { urn: urn("command:remote:Command", "hgx-ready"), type: "command:remote:Command", custom: true },
      { urn: urn(KEPT_TYPES.history, "hgx-history"), type: KEPT_TYPES.history, custom: true },
    ],
  },
};

describe("teardownTargets (scripts/down.sh)", () => {
  it("destroys what bills or holds the host; keeps the identity, the retained filesystem and the history, with no id written anywhere", () => {
    expect(teardownTargets(exported, { retainFilesystem: true })).toEqual([
      urn("pulumi-nodejs:dynamic/lambda:SshKey", "hgx-machine-ssh-key"),
      urn("pulumi-nodejs:dynamic/lambda:Instance", "hgx-machine-instance"),
      urn("command:remote:Command", "hgx-ready"),
    ]);
    expect(teardownTargets(exported, { retainFilesystem: false })).toContain(urn(KEPT_TYPES.filesystem, "hgx-machine-filesystem"));
    expect(teardownTargets({ version: 3, deployment: {} }, { retainFilesystem: true })).toEqual([]);
  });

  it("the script prints them one per line; down.sh no longer writes lambdaStackId into the stack file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-down-"));
    try {
      fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(exported));
      const r = spawnSync(process.execPath, [path.join(repoRoot, "node_modules/tsx/dist/cli.mjs"), path.join(repoRoot, "scripts/down-targets.ts"), path.join(dir, "state.json"), "true"], { encoding: "utf8", timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim().split("\n")).toEqual(teardownTargets(exported, { retainFilesystem: true }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const script = fs.readFileSync(path.join(repoRoot, "scripts/down.sh"), "utf8");
    expect(script).not.toMatch(/config set/);
    expect(script).toContain("--target-dependents");
    expect(spawnSync("bash", ["-n", path.join(repoRoot, "scripts/down.sh")]).status).toBe(0);
  });
});
