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

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; if?: string; env?: Record<string, string> };
type Job = { steps: Step[]; needs?: string | string[]; environment?: string; if?: string; env?: Record<string, string> };
type Workflow = {
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
  concurrency?: { group: string; "cancel-in-progress": boolean };
  permissions?: Record<string, string>;
  env?: Record<string, string>;
};

const workflows = Object.fromEntries(
  fs.readdirSync(workflowDir).map((f) => [f, { text: fs.readFileSync(path.join(workflowDir, f), "utf8"), doc: parse(fs.readFileSync(path.join(workflowDir, f), "utf8")) as Workflow }]),
);
const gitlabText = fs.readFileSync(path.join(dir, "gitlab", ".gitlab-ci.yml"), "utf8");
/** The YAML without its comments (which explain the secrets they do not use). */
const code = (text: string) => text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n");
const allSteps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
const pulumiSteps = (w: Workflow) => allSteps(w).filter((s) => s.uses?.startsWith("pulumi/actions@"));

describe("GitHub Actions examples", () => {
  it("are the five pipelines, all valid YAML", () => {
    expect(Object.keys(workflows).sort()).toEqual([
      "pulumi-deploy-dev.yml",
      "pulumi-preview-trusted.yml",
      "pulumi-preview.yml",
      "pulumi-promote-prod.yml",
      "pulumi-teardown.yml",
    ]);
  });

  it("the pull request's own code runs with no secret and a read-only token", () => {
    const { doc: w, text } = workflows["pulumi-preview.yml"];
    expect(Object.keys(w.on)).toEqual(["pull_request"]); // never pull_request_target
    expect(code(text)).not.toMatch(/secrets\./);
    expect(code(text)).not.toMatch(/PULUMI_ACCESS_TOKEN|LAMBDA_API_KEY|PULUMI_CONFIG_PASSPHRASE/);
    expect(w.permissions).toEqual({ contents: "read" });
    expect(pulumiSteps(w)).toEqual([]);
    expect(allSteps(w).some((s) => s.run?.includes("npx vitest run --project unit"))).toBe(true);
  });

  it("the preview with deploy credentials runs trusted code paths only after an approval", () => {
    const { doc: w, text } = workflows["pulumi-preview-trusted.yml"];
    expect(w.on).toEqual({ workflow_run: { workflows: ["pulumi-preview"], types: ["completed"] } });
    for (const t of Object.values(workflows)) expect(code(t.text)).not.toMatch(/pull_request_target/);
    const job = w.jobs.preview;
    expect(job.environment).toBe("preview"); // required reviewers gate the job before any step
    expect(job.if).toMatch(/workflow_run\.conclusion == 'success'/);
    // The deploy token is the only deploy secret, and only on the preview step; no Lambda key at all.
    expect(code(text)).not.toMatch(/LAMBDA_API_KEY/);
    expect(w.env ?? {}).toEqual({});
    expect(job.env ?? {}).toEqual({});
    const [p] = pulumiSteps(w);
    expect(p.env).toEqual({ PULUMI_ACCESS_TOKEN: "${{ secrets.PULUMI_ACCESS_TOKEN }}" });
    expect(p.with).toMatchObject({ command: "preview", diff: true, "comment-on-pr": true, "comment-on-pr-number": "${{ steps.pr.outputs.number }}", policyPacks: "policy" });
    expect(String(p.with!["stack-name"])).toMatch(/\/hgx-inference\/dev$/);
    // The PR number from the untrusted run is checked against the API before use.
    const verify = job.steps.find((s) => s.run?.includes("gh api"))!.run!;
    expect(verify).toMatch(/\^\[0-9\]\+\$/);
    expect(verify).toMatch(/\$HEAD_SHA/);
    const checkout = job.steps.find((s) => s.uses?.startsWith("actions/checkout@"))!;
    expect(checkout.with).toMatchObject({ ref: "${{ github.event.workflow_run.head_sha }}", "persist-credentials": false });
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
    expect(check).toMatch(/npx tsx scripts\/promote-check\.ts --stack "\$DEV_STACK"/);
    expect(w.jobs["promote-check"].env?.DEV_STACK).toBe("${{ vars.PULUMI_ORG }}/hgx-inference/dev");
    expect(check).toMatch(/set -euo pipefail/); // the tee must not swallow exit code 1
    expect(pulumiSteps({ ...w, jobs: { p: w.jobs["deploy-prod"] } })[0].with).toMatchObject({ command: "up", "stack-name": "${{ vars.PULUMI_ORG }}/hgx-inference/prod" });
  });

  it("promotes only the commit dev deployed, only from main, with inputs through env and the token only on the steps that need it", () => {
    const { doc: w, text } = workflows["pulumi-promote-prod.yml"];
    const check = w.jobs["promote-check"];
    const deploy = w.jobs["deploy-prod"];
    // A dispatch from any other branch, or a dev run that was not a push to main, never starts the job.
    expect(check.if).toContain("github.event_name == 'workflow_dispatch' && github.ref == 'refs/heads/main'");
    expect(check.if).toContain("github.event.workflow_run.head_branch == 'main'");
    expect(check.if).toContain("github.event.workflow_run.event == 'push'");
    // The commit is the one dev's last successful update records, checked to be on main (and the triggering run's).
    const resolve = check.steps.find((s) => s.run?.includes("pulumi stack history"))!.run!;
    expect(resolve).toContain('git.head');
    expect(resolve).toContain('git merge-base --is-ancestor "$sha" origin/main');
    expect(resolve).toContain('"$RUN_SHA" != "$sha"');
    expect(check.steps.find((s) => s.uses?.startsWith("actions/checkout@"))!.with).toMatchObject({ ref: "main", "fetch-depth": 0 });
    expect(deploy.steps.find((s) => s.uses?.startsWith("actions/checkout@"))!.with).toMatchObject({ ref: "${{ needs.promote-check.outputs.sha }}" });
    expect((check as Job & { outputs?: Record<string, string> }).outputs).toEqual({ sha: "${{ steps.deployed.outputs.sha }}" });
    // No expression is interpolated into a run: line (inputs arrive through env and are validated).
    for (const step of [...check.steps, ...deploy.steps]) expect(step.run ?? "").not.toContain("${{");
    expect(check.env?.TOLERANCE).toBe("${{ inputs.tolerance || '0.1' }}");
    expect(check.steps.find((s) => s.run?.includes("promote-check.ts"))!.run).toMatch(/\[\[ "\$TOLERANCE" =~ \^0/);
    // The token is a step secret, never on a job (where every step, and an input, would sit next to it).
    expect(JSON.stringify(check.env ?? {})).not.toContain("secrets.");
    expect(JSON.stringify(deploy.env ?? {})).not.toContain("secrets.");
    for (const step of check.steps) if (step.env?.PULUMI_ACCESS_TOKEN) expect(step.run ?? "").not.toMatch(/inputs\./);
    // The production environment is documented as main-only with required reviewers.
    expect(text).toMatch(/Deployment branches and tags: "Selected branches" = main only/);
    expect(text).toMatch(/Required reviewers/);
  });

  it("no workflow interpolates an input or event text into a run: line", () => {
    for (const [name, { doc }] of Object.entries(workflows)) {
      for (const step of allSteps(doc)) {
        const run = step.run ?? "";
        expect({ name, run, inputs: /\$\{\{\s*(inputs|github\.event\.inputs)\./.test(run) }).toEqual({ name, run, inputs: false });
        // Event fields other than numbers (the PR number) are attacker-chosen text.
        expect({ name, run, event: /\$\{\{\s*github\.event\.(?!pull_request\.number\b)/.test(run) }).toEqual({ name, run, event: false });
      }
    }
  });

  it("teardown is scheduled, destroys dev and sweeps with the reaper scoped to dev", () => {
    const w = workflows["pulumi-teardown.yml"].doc;
    expect(w.on.schedule).toEqual([{ cron: "0 2 * * *" }]);
    expect(pulumiSteps(w).filter((st) => st.with?.command).map((st) => st.with)).toEqual([expect.objectContaining({ command: "destroy" })]);
    const reaps = allSteps(w).filter((s) => s.run?.includes("scripts/reaper.ts"));
    expect(reaps).toHaveLength(1);
    expect(reaps[0].run).toMatch(/npx tsx scripts\/reaper\.ts --confirm --stack "\$DEV_STACK"/);
    expect(reaps[0].env).toEqual({ DEV_STACK: "${{ vars.PULUMI_ORG }}/hgx-inference/dev" });
    // The reaper reads dev's identity from its state: it runs before the destroy removes it.
    const steps = allSteps(w);
    expect(steps.indexOf(reaps[0])).toBeLessThan(steps.findIndex((st) => st.with?.command === "destroy"));
    expect(reaps[0].run).not.toMatch(/--all-stacks|--stack prod/);
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
  it("GitLab example is valid YAML with the same gate, a gated preview and a scoped reaper", () => {
    type GitlabJob = { needs?: string[]; script?: string[]; rules?: { if: string; when?: string }[]; environment?: { name: string } };
    const doc = parse(gitlabText) as Record<string, GitlabJob>;
    expect(doc["deploy-prod"].needs).toEqual(["promote-check"]);
    expect(doc["promote-check"].script).toEqual(["npx tsx scripts/promote-check.ts --outputs-file dev-outputs.json"]);
    expect(doc.preview.rules).toEqual([{ if: '$CI_PIPELINE_SOURCE == "merge_request_event"', when: "manual" }]);
    expect(doc.preview.environment?.name).toBe("preview");
    expect(doc.teardown.script).toEqual(['npx tsx scripts/reaper.ts --confirm --stack "$DEV_STACK"', 'pulumi destroy --yes --stack "$DEV_STACK"']);
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
