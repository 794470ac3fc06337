/**
 * Conformance: every `user_data` the stack can send to a Lambda instance, built from stack config by the same
 * functions the program uses (bootWorkPartFor → instanceUserData), validated by the schema code of the real
 * cloud-init releases (scripts/conformance/cloudinit-env.sh): 25.1.4, Ubuntu 24.04's release, from Debian trixie
 * (required), and Debian sid's newer one when its pool still has it (reported when missing). Clean means no schema
 * error, no deprecation, and nothing the booting instance would log as a warning (which ends the boot "degraded").
 * If the environment cannot be built the suite fails: it never skips.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig, type RawConfig } from "../../../components/config";
import { instanceUserData, renderCloudInit, sshHostKeyPart } from "../../../components/host/lambda/cloudInit";
import { generateHostKeyPair } from "../../../components/host/lambda/hostKeyPair";
import { bootWorkPartFor, replicaName, routerHostArgsFor } from "../../../components/stack";
import { cloudInitEnv, cloudInitProblems, validateUserData, type CloudInitEnv } from "../../fixtures/conformance/cloudinit";

const BASE: RawConfig = { hostMode: "lambda", lambdaApiKey: "sk-test-not-a-real-key" };

/** Stack configs covering each way the document changes. */
const VARIANTS: Readonly<Record<string, RawConfig>> = {
  "boot work, local disk (Docker volume cache)": {},
  "boot work, Lambda filesystem": { lambdaFilesystemName: "hgx-hf-cache" },
  "boot work, host path cache": { hfCachePath: "/home/ubuntu/.cache/huggingface" },
  "boot work, API key and HF token": { sglangApiKey: "sk-serving-test", hfToken: "hf_test_token" },
  "no boot work": { bootWorkDir: "" },
  "two replicas behind a router on its own host": { replicas: "2", routerPlacement: "own-host", sglangApiKey: "sk-serving-test" },
};

/** Every instance's user_data for one config: each replica's, and the router host's when it has one. */
function userDataOf(label: string, raw: RawConfig): Record<string, string> {
  const config = parseStackConfig({ ...BASE, ...raw }, { stack: "conformance" });
  const key = generateHostKeyPair("conformance-host");
  const docs: Record<string, string> = {};
  for (let i = 0; i < config.replicas; i++) {
    const part = bootWorkPartFor(config, replicaName(i));
    docs[`${label} / ${replicaName(i)}`] = instanceUserData(key, part === undefined ? [] : [part]);
  }
  if (config.router.placement === "own-host" && config.replicas > 1) {
    docs[`${label} / router host`] = instanceUserData(key, routerHostArgsFor(config).lambda?.cloudInitParts ?? []);
  }
  return docs;
}

let env: CloudInitEnv;
beforeAll(() => {
  env = cloudInitEnv();
});

describe("cloud-init conformance (real releases' schema)", () => {
  const docs = Object.assign({}, ...Object.entries(VARIANTS).map(([label, raw]) => userDataOf(label, raw))) as Record<string, string>;

  it("renders every variant, boot work included where configured", () => {
    // 5 one-replica configs, 2 replicas, and the router's own host.
    expect(Object.keys(docs)).toHaveLength(8);
    const withBootWork = Object.entries(docs).filter(([k]) => k.startsWith("boot work") || k.startsWith("two replicas") && !k.endsWith("router host"));
    expect(withBootWork).toHaveLength(6);
    for (const [, text] of withBootWork) expect(text).toMatch(/^write_files:/m);
    for (const [k, text] of Object.entries(docs).filter(([k]) => k.startsWith("no boot work") || k.endsWith("router host"))) {
      expect(text, k).not.toMatch(/^(write_files|runcmd):/m);
    }
  });

  it("the required release (Ubuntu 24.04's 25.1.4) is there; a missing optional one is reported", () => {
    const required = env.releases.filter((r) => r.required);
    expect(required.map((r) => r.version)).toEqual(["25.1.4-1+deb13u1"]);
    expect(required[0].pythonpath).toBeDefined();
    for (const r of env.releases.filter((x) => x.pythonpath === undefined)) console.warn(`cloud-init ${r.version} not checked: ${r.missing ?? "?"}`);
  });

  it("every rendered user_data is clean on every available release: no schema error, deprecation or boot warning", () => {
    const checked: string[] = [];
    for (const release of env.releases.filter((r) => r.pythonpath !== undefined)) {
      const report = validateUserData(env, release, docs);
      expect(Object.keys(report.results).sort()).toEqual(Object.keys(docs).sort());
      expect(cloudInitProblems(report)).toEqual([]);
      checked.push(report.version);
    }
    expect(checked).toContain("25.1.4");
  });

  it("refuses what the releases refuse, naming the component and version: the old empty ssh_genkeytypes, an unknown key", () => {
    const key = generateHostKeyPair("conformance-host");
    const oldDocument = renderCloudInit([{ ...sshHostKeyPart(key), ssh_genkeytypes: [] }]);
    const unknownKey = renderCloudInit([{ ssh_deletekeys: true, ssh_genkeytype: ["ed25519"] }]);
    for (const release of env.releases.filter((r) => r.pythonpath !== undefined)) {
      const report = validateUserData(env, release, { "old document": oldDocument, "unknown key": unknownKey });
      const problems = cloudInitProblems(report);
      const short = release.version.split("-")[0];
      expect(problems).toContainEqual(`cloud-init ${short}: user_data "old document": schema error: ssh_genkeytypes: [] should be non-empty`);
      expect(problems.some((p) => p.startsWith(`cloud-init ${short}: user_data "old document": boot warning (status "degraded")`))).toBe(true);
      expect(problems.some((p) => p.startsWith(`cloud-init ${short}: user_data "unknown key": schema error:`) && p.includes("ssh_genkeytype"))).toBe(true);
    }
  });
});
