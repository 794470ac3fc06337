/**
 * The whole program on the dev stack's settings (lambda mode, four regions) with `replicas: 3` under Pulumi
 * mocks, the third worker landing in another region than the router's host (the first replica's): the router
 * reaches the second worker at its private address and the third through an SSH tunnel on its own loopback,
 * with a stack-generated key restricted on the worker to the serving port and the worker's pinned host key.
 * No resource ever gets a worker's public URL.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type ProgramMocks, runProgram } from "./programMocks";
import { scriptOf } from "../../fixtures/stdinScript";
import { WEIGHTS_COMMIT } from "../../fixtures/serving/scriptLogs";
import { TEST_HOST_PRIVATE_KEY, TEST_HOST_PUBLIC_KEY } from "../../fixtures/hostKeys";

const KEY = "sk-router-tunnel-UNIT-secret-0007";
let mocks: ProgramMocks;
let program: Record<string, unknown>;

beforeAll(async () => {
  ({ mocks, program } = await runProgram({
    stack: "dev",
    config: { lambdaApiKey: "sk-lambda-UNIT-0008", sglangApiKey: KEY, replicas: "3", hfRevision: WEIGHTS_COMMIT },
    secretKeys: ["lambdaApiKey", "sglangApiKey"],
    // programMocks: hgx .10, hgx-2 .11, hgx-3 .12 (private 10.19.0.x); hgx-3 alone in us-west-1.
    regionOf: (host) => (host === "hgx-3" ? "us-west-1" : "us-east-1"),
  }));
}, 120_000);

const named = (name: string) => {
  const found = mocks.resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}; have ${mocks.resources.map((r) => r.name).join(", ")}`);
  return found;
};
const hostOf = (name: string) => (named(name).inputs.connection as { value?: { host?: string } } | { host?: string } | undefined);

describe("index.ts with a worker in another region than the router (lambda)", () => {
  it("routes the same-region worker over the private network and the other through its tunnel, drain steps alike", async () => {
    const workers = (program.router as { workers: { routerUrl: pulumi.Output<string> }[] }).workers;
    expect(await Promise.all(workers.map((w) => mocks.value(w.routerUrl)))).toEqual(["http://127.0.0.1:8000", "http://10.19.0.11:8000", "http://127.0.0.1:38002"]);
    expect(scriptOf(named("router-drain-hgx-2").inputs)).toContain("WORKER=http://10.19.0.11:8000");
    expect(scriptOf(named("router-drain-hgx-3").inputs)).toContain("WORKER=http://127.0.0.1:38002");
    for (const publicUrl of ["http://203.0.113.11:8000", "http://203.0.113.12:8000"]) {
      expect(mocks.secretInputHolders(publicUrl), publicUrl).toEqual([]);
      expect(mocks.plainInputLeaks({ publicUrl }), publicUrl).toEqual([]);
    }
  });

  it("authorizes the stack's tunnel key on the cross-region worker for its serving port only, and on no other", () => {
    expect(named("router-tunnel-key").type).toBe("pulumi-nodejs:dynamic/lambda:HostKeyPair");
    const across = scriptOf(named("hgx-3-tunnel-authorize").inputs);
    const base64 = TEST_HOST_PUBLIC_KEY.split(" ")[1];
    expect(across).toContain(`restrict,port-forwarding,permitopen="127.0.0.1:8000",command="/bin/false" ssh-ed25519 ${base64} hgx-tunnel-hgx-inference-dev-hgx-3`);
    // Same region: the script only removes a line an earlier placement may have left.
    const same = scriptOf(named("hgx-2-tunnel-authorize").inputs);
    expect(same).not.toContain("permitopen");
    expect(same).toContain("no tunnel to this worker");
    expect(JSON.stringify(hostOf("hgx-3-tunnel-authorize"))).toContain("203.0.113.12");
  });

  it("runs the forward on the router's host, pinned to the worker's host key, the private key only on secret stdin", () => {
    const tunnel = named("router-tunnel-hgx-3");
    expect(JSON.stringify(hostOf("router-tunnel-hgx-3"))).toContain("203.0.113.10");
    const script = scriptOf(tunnel.inputs);
    expect(script).toContain("-L 127.0.0.1:38002:127.0.0.1:8000 ubuntu@203.0.113.12");
    expect(script).toContain("-o StrictHostKeyChecking=yes");
    expect(script).toContain(`'203.0.113.12 ${TEST_HOST_PUBLIC_KEY}'`);
    expect(scriptOf(named("router-tunnel-hgx-2").inputs)).toContain("none (the worker is in the router's region)");
    expect(mocks.secretInputHolders(TEST_HOST_PRIVATE_KEY)).toContain("command:remote:Command router-tunnel-hgx-3");
    expect(mocks.plainInputLeaks({ tunnelKey: TEST_HOST_PRIVATE_KEY, apiKey: KEY })).toEqual([]);
    // The router (its worker list) starts only once the tunnel step ran.
    expect(mocks.secretInputHolders("http://127.0.0.1:38002")).toContain("docker:index/container:Container router-container");
  });
});
