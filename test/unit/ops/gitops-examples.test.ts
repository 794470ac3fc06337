/**
 * The example pipelines are documentation that runs elsewhere; these checks keep them honest:
 * valid YAML, the intended triggers and gates, every local path they name exists, secrets only
 * through the CI's secret store, and the README's threshold figures equal the code's defaults.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { defaultThresholds } from "../../../components/ops/promotion";

const repoRoot = path.resolve(__dirname, "..", "..", "..");
const dir = path.join(repoRoot, "examples", "gitops");
const workflowDir = path.join(dir, "github", "workflows");
const ALLOWED_SECRETS = new Set(["PULUMI_ACCESS_TOKEN", "LAMBDA_API_KEY", "GITHUB_TOKEN", "PULUMI_CONFIG_PASSPHRASE"]);

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; if?: string };
type Job = { steps: Step[]; needs?: string | string[]; environment?: string; if?: string };
type Workflow = { on: Record<string, unknown>; jobs: Record<string, Job>; concurrency?: { group: string; "cancel-in-progress": boolean } };

const workflows = Object.fromEntries(
  fs.readdirSync(workflowDir).map((f) => [f, { text: fs.readFileSync(path.join(workflowDir, f), "utf8"), doc: parse(fs.readFileSync(path.join(workflowDir, f), "utf8")) as Workflow }]),
);
const gitlabText = fs.readFileSync(path.join(dir, "gitlab", ".gitlab-ci.yml"), "utf8");
const allSteps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
const pulumiSteps = (w: Workflow) => allSteps(w).filter((s) => s.uses?.startsWith("pulumi/actions@"));

describe("GitHub Actions examples", () => {
  it("are the four pipelines, all valid YAML", () => {
    expect(Object.keys(workflows).sort()).toEqual(["pulumi-deploy-dev.yml", "pulumi-preview.yml", "pulumi-promote-prod.yml", "pulumi-teardown.yml"]);
  });

  it("preview runs on pull requests, comments the diff and applies the policy pack", () => {
    const w = workflows["pulumi-preview.yml"].doc;
    expect(Object.keys(w.on)).toEqual(["pull_request"]);
    const [p] = pulumiSteps(w);
    expect(p.with).toMatchObject({ command: "preview", diff: true, "comment-on-pr": true, policyPacks: "policy" });
    expect(String(p.with!["stack-name"])).toMatch(/\/hgx-inference\/dev$/);
  });

  it("dev deploys on merge to main, serialised, with the policy pack", () => {
    const w = workflows["pulumi-deploy-dev.yml"].doc;
    expect(w.on.push).toEqual({ branches: ["main"] });
    expect(w.concurrency).toEqual({ group: "pulumi-dev", "cancel-in-progress": false });
    expect(pulumiSteps(w)[0].with).toMatchObject({ command: "up", policyPacks: "policy" });
  });

  it("prod deploys only after the promote-check job against dev", () => {
    const w = workflows["pulumi-promote-prod.yml"].doc;
    expect(w.jobs["deploy-prod"].needs).toBe("promote-check");
    expect(w.jobs["deploy-prod"].environment).toBe("production");
    const check = w.jobs["promote-check"].steps.map((s) => s.run ?? "").join("\n");
    expect(check).toMatch(/npx tsx scripts\/promote-check\.ts \\\s+--stack "\$\{\{ vars\.PULUMI_ORG \}\}\/hgx-inference\/dev"/);
    expect(check).toMatch(/set -o pipefail/); // the tee must not swallow exit code 1
    expect(pulumiSteps({ ...w, jobs: { p: w.jobs["deploy-prod"] } })[0].with).toMatchObject({ command: "up", "stack-name": "${{ vars.PULUMI_ORG }}/hgx-inference/prod" });
  });

  it("teardown is scheduled, destroys dev and sweeps with the reaper", () => {
    const w = workflows["pulumi-teardown.yml"].doc;
    expect(w.on.schedule).toEqual([{ cron: "0 2 * * *" }]);
    expect(pulumiSteps(w)[0].with).toMatchObject({ command: "destroy" });
    expect(allSteps(w).some((s) => s.run?.includes("npx tsx scripts/reaper.ts --confirm"))).toBe(true);
    expect(w.concurrency?.group).toBe("pulumi-dev");
  });

  it("take secrets only from the secret store, and only the documented ones", () => {
    for (const [name, { text }] of Object.entries(workflows)) {
      const used = [...text.matchAll(/\$\{\{\s*secrets\.(\w+)\s*\}\}/g)].map((m) => m[1]);
      for (const s of used) expect({ name, s, allowed: ALLOWED_SECRETS.has(s) }).toEqual({ name, s, allowed: true });
      // A secret-looking env var must be assigned from secrets.*, never a literal.
      for (const m of text.matchAll(/^\s*(LAMBDA_API_KEY|PULUMI_ACCESS_TOKEN|PULUMI_CONFIG_PASSPHRASE):\s*(.+)$/gm)) {
        expect({ name, line: m[0].trim() }).toEqual({ name, line: expect.stringMatching(/\$\{\{ secrets\.\w+ \}\}$/) });
      }
    }
  });
});

describe("paths named by the examples exist", () => {
  const texts = [...Object.values(workflows).map((w) => w.text), gitlabText, fs.readFileSync(path.join(dir, "README.md"), "utf8")];
  const named = new Set(texts.flatMap((t) => [...t.matchAll(/\b((?:scripts|policy)\/[\w./-]+\.(?:ts|json))\b/g)].map((m) => m[1])));
  it.each([...named, "policy/PulumiPolicy.yaml", "policy/index.ts"])("%s", (p) => {
    expect(fs.existsSync(path.join(repoRoot, p))).toBe(true);
  });
  it("GitLab example is valid YAML with the same gate", () => {
    const doc = parse(gitlabText) as Record<string, { needs?: string[]; script?: string[] }>;
    expect(doc["deploy-prod"].needs).toEqual(["promote-check"]);
    expect(doc["promote-check"].script).toEqual(["npx tsx scripts/promote-check.ts --outputs-file dev-outputs.json"]);
  });
});

describe("README figures", () => {
  it("match the default thresholds", () => {
    const readme = fs.readFileSync(path.join(dir, "README.md"), "utf8");
    for (const t of defaultThresholds()) {
      if (t.name === "max-failed-requests") continue;
      expect({ name: t.name, inReadme: readme.includes(String(t.value)) }).toEqual({ name: t.name, inReadme: true });
    }
  });
});
