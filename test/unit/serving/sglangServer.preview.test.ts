/**
 * SglangServer over SSH during a preview (Pulumi mocks with dryRun): the Docker provider's key and
 * known_hosts files are NOT written — a preview leaves nothing on disk — while its configuration
 * (the paths) is the same as in an update, so a preview after an update shows no change.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as ServerModule from "../../../components/serving/sglangServer";
import { TEST_HOST_PUBLIC_KEY } from "../../fixtures/hostKeys";
import { installPulumiMocks } from "../../fixtures/pulumiMocks";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-serving-preview-"));
const savedXdg = process.env.XDG_CACHE_HOME;
const providers: Record<string, unknown>[] = [];
let mod: typeof ServerModule;

beforeAll(async () => {
  process.env.XDG_CACHE_HOME = tmp;
  await installPulumiMocks({
    project: "hgx",
    stack: "preview",
    preview: true,
    outputs: (args) => {
      if (args.type === "pulumi:providers:docker") providers.push(args.inputs as Record<string, unknown>);
      return {};
    },
  });
  mod = await import("../../../components/serving/sglangServer");
});
afterAll(() => {
  if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedXdg;
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("SglangServer in a preview", () => {
  it("configures the docker provider with the private per-stack paths but writes no file", async () => {
    const server = new mod.SglangServer("pv", {
      connection: { kind: "ssh", host: "203.0.113.7", port: 22, user: "ubuntu", privateKey: pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----\n"), hostKey: TEST_HOST_PUBLIC_KEY },
      hostReady: "2026-01-01T00:00:00Z",
      gpuCount: 8,
      image: "lmsysorg/sglang:v0.5.9-cu129",
      preset: "seed",
    });
    await new Promise<void>((resolve) => server.provider.urn.apply(() => resolve()));
    // Let the provider's inputs resolve and register.
    for (let i = 0; i < 50 && providers.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(providers).toHaveLength(1);
    const sshOpts = JSON.parse(String(providers[0]!.sshOpts)) as string[];
    expect(sshOpts[1]!.startsWith(path.join(tmp, "hgx-inference", "docker-ssh", "hgx-preview-"))).toBe(true);
    expect(fs.existsSync(path.join(tmp, "hgx-inference")), "a preview wrote the docker provider's files").toBe(false);
  });
});
