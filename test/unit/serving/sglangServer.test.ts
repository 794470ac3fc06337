import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as ServerModule from "../../../components/serving/sglangServer";
import { GATE_LOG, WEIGHTS_COMMIT, WEIGHTS_LOG } from "../../fixtures/serving/scriptLogs";
import { firstStdinLine, scriptOf } from "../../fixtures/stdinScript";
import { localDockerHost } from "../../../components/host/dockerEndpoint";
import { TEST_HOST_PUBLIC_KEY } from "../../fixtures/hostKeys";
import { renderBootWaitScript } from "../../../components/host/bootWork";
import { servingSpecHash } from "../../../components/serving/servingPlan";
import { installPulumiMocks, type RecordedResource } from "../../fixtures/pulumiMocks";

const API_KEY = "sk-serving-unit-9d1c";
const HF_TOKEN = "hf_unitTOKEN_55aa";
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAunit-test-key\n-----END OPENSSH PRIVATE KEY-----";
const SEED_FLAGS = [
  "--host", "0.0.0.0", "--port", "8000", "--model-path", "Qwen/Qwen3.5-397B-A17B", "--served-model-name", "qwen",
  "--tool-call-parser", "qwen3_coder", "--reasoning-parser", "qwen3", "--mamba-ssm-dtype", "float32", "--tp-size", "8",
  "--trust-remote-code", "--mem-fraction-static", "0.85",
];

interface Captured {
  type: string;
  name: string;
  props: Record<string, unknown>;
  opts: pulumi.ResourceOptions;
}
let recorded: RecordedResource[] = [];
const captured: Captured[] = [];
let mod: typeof ServerModule;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-serving-mocks-"));
const savedXdg = process.env.XDG_CACHE_HOME;

beforeAll(async () => {
  process.env.XDG_CACHE_HOME = tmp; // the ssh key and known_hosts files land under here
  const mocks = await installPulumiMocks({
    project: "hgx",
    stack: "test",
    outputs: (args) => {
      if (args.type === "docker:index/remoteImage:RemoteImage") return { imageId: "sha256:1111", repoDigest: `lmsysorg/sglang@sha256:${"b".repeat(64)}` };
      if (args.type.startsWith("command:")) return { stdout: args.name.endsWith("-weights") ? WEIGHTS_LOG : args.name.endsWith("-ready") ? GATE_LOG : "2026-01-01T00:04:00Z\n" };
      return {};
    },
  });
  recorded = mocks.resources;
  mod = await import("../../../components/serving/sglangServer");
});
afterAll(() => {
  if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedXdg;
  fs.rmSync(tmp, { recursive: true, force: true });
});

function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}
const capture: pulumi.ResourceTransformation = (a) => {
  captured.push({ type: a.type, name: a.name, props: a.props, opts: a.opts });
  return undefined;
};
const byName = (name: string) => recorded.find((r) => r.name === name);
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
/** Mocks deliver secret inputs wrapped in Pulumi's secret envelope. */
function isSecretEnvelope(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270";
}
function unwrap(v: unknown): unknown {
  return isSecretEnvelope(v) ? v.value : v;
}
/** The inputs with every secret envelope replaced by a placeholder: what state stores in plain text. */
function plainPart(v: unknown): unknown {
  if (isSecretEnvelope(v)) return "<secret>";
  if (Array.isArray(v)) return v.map(plainPart);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainPart(x)]));
  return v;
}
const capturedNamed = (name: string) => captured.find((c) => c.name === name);

async function deploy(name: string, args: Partial<ServerModule.SglangServerArgs>) {
  const server = new mod.SglangServer(
    name,
    {
      connection: { kind: "ssh", host: "203.0.113.7", port: 22, user: "ubuntu", privateKey: pulumi.secret(PRIVATE_KEY), hostKey: TEST_HOST_PUBLIC_KEY },
      hostReady: "2026-01-01T00:00:00Z",
      gpuCount: 8,
      image: "lmsysorg/sglang:v0.5.9-cu129",
      preset: "seed",
      apiKey: pulumi.secret(API_KEY),
      hfToken: pulumi.secret(HF_TOKEN),
      ...args,
    },
    { transformations: [capture] },
  );
  // Everything downstream of the gate has resolved once the timeline has.
  await valueOf(server.timeline);
  return server;
}

describe("SglangServer with the seed preset over SSH", () => {
  let server: ServerModule.SglangServer;
  beforeAll(async () => {
    server = await deploy("seed", {});
  });

  it("creates exactly the expected children", () => {
    const mine = recorded.filter((r) => r.name.startsWith("seed"));
    expect(mine.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
      "command:local:Command seed-docker-ssh-files",
      "command:local:Command seed-image-pulled",
      "command:remote:Command seed-ready",
      "command:remote:Command seed-weights",
      "docker:index/container:Container seed-container",
      "docker:index/remoteImage:RemoteImage seed-image",
      "docker:index/volume:Volume seed-cache-volume",
      "hgx:serving:SglangServer seed",
      "pulumi:providers:docker seed-docker-provider",
    ]);
  });

  it("container: every flag, port, volume, env, ulimit and the healthcheck", () => {
    const c = byName("seed-container")?.inputs ?? {};
    expect(c.name).toBe("hgx-test-sglang");
    expect(c.image).toBe("sha256:1111");
    const command = c.command as string[];
    expect(command.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(command[2]).toBe(
      '[ -n "$SGLANG_API_KEY" ] || { echo "SGLANG_API_KEY is empty: refusing to start an unauthenticated server" >&2; exit 64; }; exec python -m sglang.launch_server "$@" --api-key "$SGLANG_API_KEY"',
    );
    // Weights pre-downloaded at the branch `main`: SGLang loads the commit the weights step recorded.
    expect(command.slice(3)).toEqual(["sglang-launch", ...SEED_FLAGS, "--revision", WEIGHTS_COMMIT]);
    expect(c.gpus).toBe("all");
    expect(c.ipcMode).toBe("host");
    expect(c.shmSize).toBeUndefined();
    expect(c.ulimits).toEqual([
      { name: "memlock", soft: -1, hard: -1 },
      { name: "stack", soft: 67108864, hard: 67108864 },
    ]);
    expect(c.ports).toEqual([{ internal: 8000, external: 8000, ip: "127.0.0.1", protocol: "tcp" }]);
    expect(c.volumes).toEqual([{ volumeName: "hgx-test-hf-cache", containerPath: "/root/.cache/huggingface" }]);
    expect(isSecretEnvelope(c.envs)).toBe(true);
    expect(unwrap(c.envs)).toEqual([
      "HF_HOME=/root/.cache/huggingface",
      "HF_XET_HIGH_PERFORMANCE=1",
      // No HF_TOKEN: the weights step pre-downloaded the weights, so the server never needs it.
      `SGLANG_API_KEY=${API_KEY}`,
    ]);
    expect(c.healthcheck).toEqual({
      tests: [
        "CMD-SHELL",
        "if command -v curl >/dev/null 2>&1; then curl -fsS -m 10 -o /dev/null http://127.0.0.1:8000/health; else python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health', timeout=10)\"; fi",
      ],
      interval: "15s",
      timeout: "20s",
      retries: 5,
      startPeriod: "3600s",
    });
    expect(c.labels).toEqual([
      { label: "hgx.project", value: "hgx" },
      { label: "hgx.stack", value: "test" },
      { label: "hgx.component", value: "serving" },
    ]);
    expect(c.restart).toBe("unless-stopped");
    expect(c.wait).toBe(false);
    expect(c.mustRun).toBe(true);
    expect(c.logOpts).toEqual({ "max-size": "100m", "max-file": "3" });
    expect(c.destroyGraceSeconds).toBe(60);
  });

  it("container options: replace only on what is served; labels and timeouts never restart it", () => {
    const opts: pulumi.CustomResourceOptions = capturedNamed("seed-container")?.opts ?? {};
    expect(opts.replaceOnChanges).toEqual(["image", "command", "envs", "gpus", "ipcMode", "shmSize", "ulimits", "volumes", "ports", "networkMode"]);
    expect(opts.ignoreChanges).toEqual(expect.arrayContaining(["labels", "healthcheck", "waitTimeout", "wait", "restart"]));
    expect(opts.deleteBeforeReplace).toBe(true);
    expect(opts.provider).toBe(server.provider);
  });

  it("the weights download waits only for the host (and its cache volume), not the image; the container waits for both", () => {
    const weightsOpts = capturedNamed("seed-weights")?.opts ?? {};
    expect(weightsOpts.dependsOn).toEqual([server.cacheVolume]);
    const containerOpts = capturedNamed("seed-container")?.opts ?? {};
    const deps = containerOpts.dependsOn as pulumi.Resource[];
    expect(deps).toContain(server.cacheVolume);
    expect(deps.map((d) => (d as unknown as { __name?: string }).__name)).toContain("seed-weights");
    const weights = byName("seed-weights")?.inputs ?? {};
    expect(scriptOf(weights)).toContain("hf download");
    expect(scriptOf(weights)).toContain("hgx-test-hf-cache:/root/.cache/huggingface");
    expect(isSecretEnvelope(weights.connection)).toBe(true); // it carries the private key
    expect(unwrap(weights.connection)).toMatchObject({ host: "203.0.113.7", port: 22, user: "ubuntu", hostKey: TEST_HOST_PUBLIC_KEY, dialErrorLimit: 10 });
  });

  it("docker provider over ssh: 0600 key file and pinned known_hosts in a private per-stack dir; the key itself is not in its config", () => {
    const p = byName("seed-docker-provider")?.inputs ?? {};
    expect(p.host).toBe("ssh://ubuntu@203.0.113.7:22");
    const sshOpts = JSON.parse(String(p.sshOpts)) as string[];
    expect(sshOpts[0]).toBe("-i");
    const dir = path.dirname(sshOpts[1]!);
    expect(dir.startsWith(path.join(tmp, "hgx-inference", "docker-ssh", "hgx-test-"))).toBe(true);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(sshOpts[1]!).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(sshOpts[1]!, "utf8")).toBe(`${PRIVATE_KEY}\n`);
    expect(sshOpts).toContain("StrictHostKeyChecking=yes");
    expect(sshOpts).toContain(`UserKnownHostsFile=${path.join(dir, "seed.known_hosts")}`);
    expect(fs.readFileSync(path.join(dir, "seed.known_hosts"), "utf8")).toBe(`203.0.113.7 ${TEST_HOST_PUBLIC_KEY}\n`);
    expect(JSON.stringify(p)).not.toContain("AAAAunit-test-key");
    // The files go at destroy: the command's delete removes them (and the provider depends on it).
    const cleanup = byName("seed-docker-ssh-files")?.inputs ?? {};
    expect(cleanup.delete).toBe(`rm -f ${sshOpts[1]} ${path.join(dir, "seed.known_hosts")}; rmdir ${dir} 2>/dev/null; true`);
    expect((capturedNamed("seed-docker-provider")?.opts.dependsOn as pulumi.Resource[]).map((d) => (d as unknown as { __name?: string }).__name)).toEqual(["seed-docker-ssh-files"]);
  });

  it("secrets are Pulumi secrets and absent from every plain input, argv and dockerRunCommand", async () => {
    const c = capturedNamed("seed-container")?.props ?? {};
    expect(await pulumi.isSecret(c.envs as pulumi.Output<string[]>)).toBe(true);
    for (const name of ["seed-weights", "seed-ready"]) {
      const stdin = capturedNamed(name)?.props.stdin as pulumi.Output<string>;
      expect(pulumi.Output.isInstance(stdin), name).toBe(true);
      expect(await pulumi.isSecret(stdin), name).toBe(true);
    }
    expect(byName("seed-weights")?.inputs.stdin).toEqual({ [SECRET_SIG]: expect.any(String), value: expect.any(String) });
    expect(firstStdinLine(byName("seed-weights")?.inputs ?? {})).toBe(HF_TOKEN);
    expect(firstStdinLine(byName("seed-ready")?.inputs ?? {})).toBe(API_KEY);
    for (const name of ["seed-weights", "seed-ready"]) {
      const script = scriptOf(byName(name)?.inputs ?? {});
      for (const secret of [API_KEY, HF_TOKEN]) expect(script, `${name} script`).not.toContain(secret);
    }
    // Everything state would hold in plain text: no secret anywhere, in any child.
    for (const r of recorded.filter((x) => x.name.startsWith("seed"))) {
      const text = JSON.stringify(plainPart(r.inputs));
      for (const s of [API_KEY, HF_TOKEN, "AAAAunit-test-key"]) expect(text, `${r.name} leaks`).not.toContain(s);
    }
    // And the secrets are really there (inside envelopes), so the check above can fail.
    expect(JSON.stringify(recorded.filter((x) => x.name.startsWith("seed")).map((r) => r.inputs))).toContain(API_KEY);
    const run = await valueOf(server.dockerRunCommand);
    for (const s of [API_KEY, HF_TOKEN]) expect(run).not.toContain(s);
    expect(run).toContain("-e SGLANG_API_KEY \\");
    expect(await pulumi.isSecret(server.apiKey)).toBe(true);
    expect(await valueOf(server.apiKey)).toBe(API_KEY);
  });

  it("outputs: endpoint gated on the gate, served name, digest, container name, run command, timeline", async () => {
    expect(await valueOf(server.endpoint)).toBe("http://127.0.0.1:8000");
    expect(await valueOf(server.hostLocalEndpoint)).toBe("http://127.0.0.1:8000");
    expect(await valueOf(server.servedModelName)).toBe("qwen");
    expect(await valueOf(server.imageDigest)).toBe(`lmsysorg/sglang@sha256:${"b".repeat(64)}`);
    expect(await valueOf(server.containerName)).toBe("hgx-test-sglang");
    const run = await valueOf(server.dockerRunCommand);
    // What runs: the build by the digest it resolved to, SGLang loading the commit the weights step recorded.
    expect(run.split(" \\\n  ").slice(-13)).toEqual([
      `lmsysorg/sglang@sha256:${"b".repeat(64)}`,
      expect.stringMatching(/^sh -c '.*' sglang-launch$/),
      "--host 0.0.0.0", "--port 8000", "--model-path Qwen/Qwen3.5-397B-A17B", "--served-model-name qwen",
      "--tool-call-parser qwen3_coder", "--reasoning-parser qwen3", "--mamba-ssm-dtype float32", "--tp-size 8",
      "--trust-remote-code", "--mem-fraction-static 0.85", `--revision ${WEIGHTS_COMMIT}`,
    ]);
    const timeline = await valueOf(server.timeline);
    expect(timeline.map((p) => [p.phase, p.seconds])).toEqual([
      ["hostReady", undefined],
      ["imagePulled", 240],
      ["weightsPresent", 1800],
      ["containerHealthy", 1189],
      ["ready", 3],
    ]);
    const path = await valueOf(server.criticalPath);
    expect(path?.phases).toEqual(["hostReady", "weightsPresent", "containerHealthy", "ready"]);
    expect(path?.phaseSeconds).toBe(1800 + 1189 + 3);
    expect(path?.stackAddedSeconds).toBe((path?.totalSeconds ?? 0) - (1800 + 1189 + 3));
    const gate = byName("seed-ready")?.inputs ?? {};
    expect(scriptOf(gate)).toContain("http://127.0.0.1:8000");
    expect(gate.triggers).toEqual(["seed-container-id"]);
    // The gate starts once Docker started the container (the provider does not wait for health) and
    // its one bound covers the boot (90 min) and its own checks (15 min).
    expect(capturedNamed("seed-ready")?.opts.dependsOn).toContain(server.container);
    expect(capturedNamed("seed-container")?.props.wait).toBe(false);
    expect(scriptOf(gate)).toContain("TIMEOUT=6300");
    expect(scriptOf(gate)).toMatch(/^CONTAINER=hgx-test-sglang$/m);
  });
});

describe("SglangServer variants", () => {
  it("with boot work: a boot wait runs first, the pull, cache volume and download wait for it, and its TIMELINE lines reach the timeline", async () => {
    const server = await deploy("boot", { bootWork: { dir: "/var/lib/hgx-boot", expected: true } });
    const wait = byName("boot-boot-wait")?.inputs ?? {};
    expect(scriptOf(wait)).toBe(renderBootWaitScript({ dir: "/var/lib/hgx-boot", expected: true, weightsFallback: true }));
    // The wait reads no secret: its stdin's first line is empty.
    expect(firstStdinLine(wait)).toBe("");
    const named = (d: unknown) => (d as { __name?: string }).__name;
    for (const child of ["boot-image", "boot-cache-volume", "boot-weights"]) {
      expect((capturedNamed(child)?.opts.dependsOn as unknown[]).map(named), child).toContain("boot-boot-wait");
    }
    // Under mocks every command prints the same stub time; the wait's stdout (no boot lines) adds no phase.
    expect((await valueOf(server.timeline)).map((p) => p.phase)).toEqual(["hostReady", "imagePulled", "weightsPresent", "containerHealthy", "ready"]);
  });

  it("local host with a persistent filesystem: bind mount, no volume, local commands, unix socket", async () => {
    const server = await deploy("loc", {
      connection: { kind: "local" },
      cacheMountPath: "/lambda/nfs/hgx-fs",
      preset: "b200",
      apiKey: undefined,
      hfToken: undefined,
      port: 18000,
      labels: { owner: "ml" },
      waitTimeout: "2h",
      healthStartPeriod: "30m",
    });
    const types = recorded.filter((r) => r.name.startsWith("loc-")).map((r) => `${r.type} ${r.name}`);
    expect(types).not.toContain("docker:index/volume:Volume loc-cache-volume");
    expect(types).toContain("command:local:Command loc-weights");
    expect(types).toContain("command:local:Command loc-ready");
    expect(server.cacheVolume).toBeUndefined();
    expect(byName("loc-docker-provider")?.inputs.host).toBe(localDockerHost());
    const c = byName("loc-container")?.inputs ?? {};
    expect(c.volumes).toEqual([{ hostPath: "/lambda/nfs/hgx-fs/huggingface", containerPath: "/root/.cache/huggingface" }]);
    expect(c.ports).toEqual([{ internal: 8000, external: 18000, ip: "127.0.0.1", protocol: "tcp" }]);
    expect((c.command as string[]).slice(0, 3)).toEqual(["python", "-m", "sglang.launch_server"]);
    expect(c.command).toContain("--speculative-algorithm");
    expect(c.envs).toEqual(["HF_HOME=/root/.cache/huggingface", "HF_XET_HIGH_PERFORMANCE=1"]); // no secrets -> plain
    expect(scriptOf(byName("loc-ready")?.inputs ?? {})).toMatch(/^TIMEOUT=(\d+)$/m);
    expect(Number(/^TIMEOUT=(\d+)$/m.exec(scriptOf(byName("loc-ready")?.inputs ?? {}))?.[1])).toBe(7200 + 900); // waitTimeout 2h + readiness
    expect((c.healthcheck as { startPeriod: string }).startPeriod).toBe("1800s");
    expect(c.labels).toContainEqual({ label: "owner", value: "ml" });
    expect(scriptOf(byName("loc-weights")?.inputs ?? {})).toContain("/lambda/nfs/hgx-fs/huggingface:/root/.cache/huggingface");
    expect(await valueOf(server.endpoint)).toBe("http://127.0.0.1:18000");
    expect(await valueOf(server.apiKey)).toBeUndefined();
  });

  it("firewall allowlist publishes on 0.0.0.0 and the endpoint uses the host address", async () => {
    const server = await deploy("pub", { firewallAllowlist: ["203.0.113.0/24"] });
    expect((byName("pub-container")?.inputs.ports as Array<{ ip: string }>)[0].ip).toBe("0.0.0.0");
    expect(await valueOf(server.endpoint)).toBe("http://203.0.113.7:8000");
  });

  it("preDownload: false creates no weights command", async () => {
    await deploy("nodl", { preDownload: false });
    expect(byName("nodl-weights")).toBeUndefined();
    expect(byName("nodl-container")).toBeDefined();
  });

  it("transform overrides are merged last", async () => {
    await deploy("tx", { transform: { container: { restart: "always" }, image: { keepLocally: false } } });
    expect(byName("tx-container")?.inputs.restart).toBe("always");
    expect(byName("tx-image")?.inputs.keepLocally).toBe(false);
  });

  it("uses the plan it is handed (the stack plans each replica once) instead of planning again", async () => {
    const args: ServerModule.SglangServerArgs = { connection: { kind: "local" }, hostReady: "2026-01-01T00:00:00Z", gpuCount: 8, image: "lmsysorg/sglang:v0.5.9-cu129", preset: "seed", preDownload: false };
    const planned = mod.planServer(args, { project: "hgx", stack: "test" });
    expect(planned.result.problems).toEqual([]);
    const server = new mod.SglangServer("planned-once", { ...args, planned });
    await valueOf(server.timeline);
    expect(server.plan).toBe(planned.result.plan);
    expect(server.specHash).toBe(servingSpecHash(planned.result.plan!));
    // A planned failure stops the component with the same problems, before any child.
    const bad = mod.planServer({ ...args, port: 0 }, { project: "hgx", stack: "test" });
    expect(() => new mod.SglangServer("planned-bad", { ...args, planned: bad })).toThrow(/invalid serving configuration:\n- port 0 \(host port\) is out of range; use an integer in 1-65535/);
  });

  it("a bad configuration fails before any child exists, listing every problem", () => {
    const before = recorded.length;
    expect(
      () =>
        new mod.SglangServer("bad", {
          connection: { kind: "local" },
          hostReady: "x",
          gpuCount: 4,
          image: "lmsysorg/sglang:latest",
          preset: "seed",
          flagOverrides: { servedModelName: "q:1" },
          extraFlags: ["--api-key", "oops"],
        }),
    ).toThrow(/invalid serving configuration:\n- image "lmsysorg\/sglang:latest" is not pinned[\s\S]*--served-model-name "q:1"[\s\S]*needs 8 GPUs but the host has 4[\s\S]*--api-key must not be passed in extraFlags/);
    expect(recorded.slice(before).filter((r) => r.name.startsWith("bad-"))).toEqual([]);
  });
});
