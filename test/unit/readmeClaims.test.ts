/**
 * What the README says about where secrets can be seen, checked against what the code does.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import type { HgxHost } from "../../components/host/hgxHost";
import { ROUTER_API_KEY_ENV, routerWrapperScript } from "../../components/router/routerPlan";
import { hostOutputs } from "../../components/stack";

const repoRoot = path.resolve(__dirname, "..", "..");
const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8").replace(/\s+/g, " ");

describe("README: the router's API key", () => {
  it("is in the router process's arguments, and the README says so (it said 'never in argv')", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-router-argv-"));
    try {
      // A stand-in python that prints the argv the router would get.
      fs.writeFileSync(path.join(dir, "python"), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
      const r = spawnSync("sh", ["-c", routerWrapperScript(true), "sglang-router-launch", "--port", "30000"], {
        encoding: "utf8",
        env: { PATH: `${dir}:${process.env.PATH}`, ROUTER_WORKER_URLS: "http://127.0.0.1:8000", [ROUTER_API_KEY_ENV]: "sk-router-argv" },
      });
      expect(r.stdout.split("\n")).toEqual(expect.arrayContaining(["--api-key", "sk-router-argv"]));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(readme).not.toMatch(/never in argv/);
    expect(readme).toContain("in the router process's arguments on its host (`ps`, `/proc/<pid>/cmdline`");
  });
});

describe("README: the host outputs it names exist", () => {
  it("every host.<output> in the README is one hostOutputs exports (it told users to save the key from one that did not exist)", () => {
    const stub = new Proxy({}, { get: (_t, p) => (p === "machine" ? { generatedKey: true, stackId: pulumi.output("0123456789abcdef") } : pulumi.output(p === "readyAt" ? "" : 0)) }) as unknown as HgxHost;
    const exported = Object.keys(hostOutputs(stub));
    const named = [...new Set([...readme.matchAll(/`host\.(\w+)`/g)].map((m) => m[1]!))];
    expect(named.length).toBeGreaterThan(5);
    for (const name of named) expect({ name, exported: exported.includes(name) }).toEqual({ name, exported: true });
    expect(named).toContain("sshPrivateKey");
  });
});
