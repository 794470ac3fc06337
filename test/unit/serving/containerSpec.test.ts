import { execFileSync } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import {
  buildContainerSpec,
  CONTAINER_IGNORE_CHANGES,
  CONTAINER_REPLACE_ON,
  containerReplaceReasons,
  type ContainerSpecInput,
  renderDockerRunCommand,
  shellQuote,
  toContainerArgs,
} from "../../../components/serving/containerSpec";
import { renderSglangArgv, resolveSglangFlags } from "../../../components/serving/sglang/args";
import { API_KEY_ENV, SGLANG_ENGINE } from "../../../components/serving/sglang/engine";

const base: ContainerSpecInput = {
  name: "hgx-dev-sglang",
  image: "lmsysorg/sglang:v0.5.9",
  engine: SGLANG_ENGINE,
  serverArgv: renderSglangArgv(resolveSglangFlags("seed")),
  containerPort: 8000,
  hostPort: 8000,
  firewallAllowlist: [],
  cacheVolumeName: "hgx-dev-hf-cache",
  apiKey: true,
  hfToken: true,
  labels: { project: "hgx", stack: "dev", component: "serving" },
};

/** What bash hands to `docker` when it runs the rendered line (a shell function stands in for docker). */
function argvSeenByDocker(line: string, env: Record<string, string> = {}): string[] {
  const out = execFileSync("bash", ["-c", `docker() { printf '%s\\0' "$@"; }\n${line}`], { env: { PATH: process.env.PATH ?? "", SHLVL: "1", ...env } });
  return out.toString("utf8").split("\0").slice(0, -1);
}

describe("buildContainerSpec", () => {
  it("volume cache, loopback port without allowlist, GPUs, host IPC, ulimits, labels, healthcheck", () => {
    const spec = buildContainerSpec(base);
    expect(spec.volumes).toEqual([{ kind: "volume", volumeName: "hgx-dev-hf-cache", containerPath: "/root/.cache/huggingface" }]);
    expect(spec.ports).toEqual([{ hostIp: "127.0.0.1", hostPort: 8000, containerPort: 8000 }]);
    expect(spec.gpus).toBe("all");
    expect(spec.ipcMode).toBe("host");
    expect(spec.ulimits).toEqual([
      { name: "memlock", soft: -1, hard: -1 },
      { name: "stack", soft: 67108864, hard: 67108864 },
    ]);
    expect(spec.env).toEqual({ HF_HOME: "/root/.cache/huggingface", HF_XET_HIGH_PERFORMANCE: "1" });
    expect(spec.secretEnvNames).toEqual(["HF_TOKEN", "SGLANG_API_KEY"]);
    expect(spec.labels).toEqual({ "hgx.project": "hgx", "hgx.stack": "dev", "hgx.component": "serving" });
    expect(spec.healthcheck.startPeriodSeconds).toBe(3600);
    expect(spec.healthcheck.test[0]).toBe("CMD-SHELL");
    expect(spec.healthcheck.test[1]).toContain("http://127.0.0.1:8000/health");
    expect(spec.restart).toBe("unless-stopped");
  });

  it("the test rig's setting drops only the unlimited memlock, and keeps the GPUs", () => {
    const spec = buildContainerSpec({ ...base, omitMemlockUlimit: true });
    expect(spec.gpus).toBe("all");
    expect(spec.ulimits).toEqual([{ name: "stack", soft: 67108864, hard: 67108864 }]);
    expect(buildContainerSpec(base).ulimits.map((u) => u.name)).toEqual(["memlock", "stack"]);
  });

  it("persistent filesystem -> bind <cacheMountPath>/huggingface; allowlist -> 0.0.0.0", () => {
    const spec = buildContainerSpec({ ...base, cacheMountPath: "/lambda/nfs/hgx-cache/", firewallAllowlist: ["203.0.113.7/32"] });
    expect(spec.volumes).toEqual([{ kind: "bind", hostPath: "/lambda/nfs/hgx-cache/huggingface", containerPath: "/root/.cache/huggingface" }]);
    expect(spec.ports[0].hostIp).toBe("0.0.0.0");
  });

  it("api key -> sh wrapper reading $SGLANG_API_KEY; without -> plain python launch", () => {
    const withKey = buildContainerSpec(base);
    expect(withKey.command.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(withKey.command[2]).toContain(`--api-key "$${API_KEY_ENV}"`);
    expect(withKey.command.slice(4)).toEqual(base.serverArgv);
    const noKey = buildContainerSpec({ ...base, apiKey: false, hfToken: false });
    expect(noKey.command).toEqual(["python", "-m", "sglang.launch_server", ...base.serverArgv]);
    expect(noKey.secretEnvNames).toEqual([]);
  });

  it("the wrapper appends the key at exec time and refuses an empty key", () => {
    const spec = buildContainerSpec(base);
    // Replace `python` with a function that prints what SGLang would receive.
    const script = `python() { printf '%s\\0' "$@"; }; ${spec.command[2].replace("exec python", "python")}`;
    const run = (key: string) =>
      execFileSync("bash", ["-c", script, spec.command[3], ...spec.command.slice(4)], {
        env: { [API_KEY_ENV]: key, PATH: process.env.PATH ?? "", SHLVL: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
    const argv = run("k-123").toString().split("\0").slice(0, -1);
    expect(argv).toEqual(["-m", "sglang.launch_server", ...base.serverArgv, "--api-key", "k-123"]);
    expect(() => run("")).toThrow(/status 64|SGLANG_API_KEY is empty/);
  });
});

describe("renderDockerRunCommand", () => {
  const spec = buildContainerSpec(base);

  it("masked: secrets by name only, runnable after export", () => {
    const masked = renderDockerRunCommand(spec);
    expect(masked).not.toMatch(/HF_TOKEN=|SGLANG_API_KEY=/);
    const argv = argvSeenByDocker(masked);
    expect(argv.slice(0, 4)).toEqual(["run", "-d", "--name", "hgx-dev-sglang"]);
    const envArgs = argv.flatMap((a, i) => (argv[i - 1] === "-e" ? [a] : []));
    expect(envArgs).toEqual(["HF_HOME=/root/.cache/huggingface", "HF_XET_HIGH_PERFORMANCE=1", "HF_TOKEN", "SGLANG_API_KEY"]);
  });

  it("is the same container as the spec: every option, then image and command", () => {
    const argv = argvSeenByDocker(renderDockerRunCommand(spec, { secretValues: { HF_TOKEN: "hf_abc", SGLANG_API_KEY: "it's $ecret" } }));
    const imageAt = argv.indexOf("lmsysorg/sglang:v0.5.9");
    expect(argv.slice(imageAt + 1)).toEqual([...spec.command]);
    const opts = argv.slice(0, imageAt);
    expect(opts).toEqual([
      "run", "-d", "--name", "hgx-dev-sglang", "--gpus", "all", "--ipc=host",
      "--ulimit", "memlock=-1", "--ulimit", "stack=67108864",
      "-p", "127.0.0.1:8000:8000",
      "-v", "hgx-dev-hf-cache:/root/.cache/huggingface",
      "-e", "HF_HOME=/root/.cache/huggingface", "-e", "HF_XET_HIGH_PERFORMANCE=1",
      "-e", "HF_TOKEN=hf_abc", "-e", "SGLANG_API_KEY=it's $ecret",
      "--restart", "unless-stopped",
      "--label", "hgx.project=hgx", "--label", "hgx.stack=dev", "--label", "hgx.component=serving",
      "--health-cmd", spec.healthcheck.test[1],
      "--health-interval=15s", "--health-timeout=20s", "--health-retries=5", "--health-start-period=3600s",
      "--log-driver", "json-file", "--log-opt", "max-size=100m", "--log-opt", "max-file=3",
      "--stop-timeout=60",
    ]);
  });

  it("shows one flag per line for humans", () => {
    const lines = renderDockerRunCommand(buildContainerSpec({ ...base, apiKey: false })).split(" \\\n  ");
    expect(lines).toContain("--model-path Qwen/Qwen3.5-397B-A17B");
    expect(lines).toContain("--trust-remote-code");
    expect(lines).toContain("python -m sglang.launch_server");
  });

  it("shellQuote round-trips awkward strings through bash", () => {
    for (const s of ["plain", "", "a b", "it's", '"q"', "$HOME", "`x`", "a\nb", "{\"k\": true}"]) {
      expect(argvSeenByDocker(`docker ${shellQuote(s)}`)).toEqual([s]);
    }
  });
});

describe("replacement policy", () => {
  const spec = buildContainerSpec(base);

  it("flag, model or image changes replace; labels, health timing and restart do not", () => {
    const flagChange = buildContainerSpec({ ...base, serverArgv: renderSglangArgv(resolveSglangFlags("seed", { memFractionStatic: 0.8 })) });
    expect(containerReplaceReasons(spec, flagChange)).toEqual({ replace: ["command"], ignored: [] });
    const modelChange = buildContainerSpec({ ...base, serverArgv: renderSglangArgv(resolveSglangFlags("seed", { modelPath: "Qwen/Qwen3.5-397B-A17B-FP8" })) });
    expect(containerReplaceReasons(spec, modelChange).replace).toEqual(["command"]);
    expect(containerReplaceReasons(spec, { ...spec, image: "lmsysorg/sglang:v0.5.10" }).replace).toEqual(["image"]);

    const cosmetic = buildContainerSpec({ ...base, labels: { ...base.labels, owner: "ml" }, healthStartPeriodSeconds: 1800, healthIntervalSeconds: 30, restart: "always" });
    expect(containerReplaceReasons(spec, cosmetic)).toEqual({ replace: [], ignored: ["healthcheck", "labels", "restart"] });
  });

  it("replace-on and ignore lists are disjoint ContainerArgs fields", () => {
    const args = toContainerArgs(spec, { imageId: "sha256:x", secretEnv: { HF_TOKEN: "t", SGLANG_API_KEY: "k" } });
    for (const f of [...CONTAINER_REPLACE_ON, ...CONTAINER_IGNORE_CHANGES]) {
      if (f === "shmSize" || f === "networkMode") continue; // only set with private IPC / host network
      if (f === "waitTimeout") continue; // no longer set (wait: false); ignored so older states do not diff
      expect(Object.keys(args), f).toContain(f);
    }
    expect(CONTAINER_REPLACE_ON.filter((f) => (CONTAINER_IGNORE_CHANGES as readonly string[]).includes(f))).toEqual([]);
  });
});

describe("toContainerArgs", () => {
  it("secret env values only inside a Pulumi secret; plain fields mirror the spec", async () => {
    const spec = buildContainerSpec(base);
    const args = toContainerArgs(spec, { imageId: "sha256:img", secretEnv: { HF_TOKEN: pulumi.secret("hf_abc"), SGLANG_API_KEY: pulumi.secret("k") } });
    expect(pulumi.Output.isInstance(args.envs)).toBe(true);
    expect(await pulumi.isSecret(args.envs as pulumi.Output<string[]>)).toBe(true);
    const { envs, ...plain } = args;
    expect(JSON.stringify(plain)).not.toMatch(/hf_abc|"k"/);
    expect(plain.command).toEqual([...spec.command]);
    expect(plain.ulimits).toEqual([{ name: "memlock", soft: -1, hard: -1 }, { name: "stack", soft: 67108864, hard: 67108864 }]);
    expect(plain.healthcheck).toEqual({ tests: [...spec.healthcheck.test], interval: "15s", timeout: "20s", retries: 5, startPeriod: "3600s" });
    expect(plain.wait).toBe(false); // the readiness gate waits, reporting progress and failing fast
    expect(plain.waitTimeout).toBeUndefined();
    expect(envs).toBeDefined();
  });

  it("fails loudly when a secret value is missing", () => {
    expect(() => toContainerArgs(buildContainerSpec(base), { imageId: "x", secretEnv: { HF_TOKEN: "t" } })).toThrow(/SGLANG_API_KEY/);
  });
});
