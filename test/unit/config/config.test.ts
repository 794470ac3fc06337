import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import {
  CONFIG_SCHEMA,
  ConfigValidationError,
  cidrProblem,
  closestKey,
  gpuCountOfInstanceType,
  parseStackConfig,
  type LambdaSettings,
  type RawConfig,
  type StackConfig,
} from "../../../components/config";
import { projectFileDocument, rawConfigFromStackFile } from "../../../components/projectFile";
import { parseWithLayerChecks } from "../../../components/stack";
import { configProblems } from "../../fixtures/configProblems";

const root = path.resolve(__dirname, "..", "..", "..");
const lambdaBase: RawConfig = { hostMode: "lambda", lambdaApiKey: "sk-test-not-a-real-key" };

const problemsOf = configProblems;

/** The lambda settings of a config parsed in lambda mode (only that mode's config carries them). */
function lambdaOf(c: StackConfig): LambdaSettings {
  if (c.hostMode !== "lambda") throw new Error(`expected hostMode lambda, got ${c.hostMode}`);
  return c.lambda;
}

function stackFileRaw(file: string): RawConfig {
  return rawConfigFromStackFile(path.join(root, file));
}

describe("parseStackConfig: defaults", () => {
  it("yields the seed's setup on Lambda from the defaults plus an API key", () => {
    const c = parseStackConfig(lambdaBase, { stack: "dev" });
    expect(c.hostMode).toBe("lambda");
    expect(c.gpuCount).toBe(8);
    expect(lambdaOf(c).instanceType).toBe("gpu_8x_b200_sxm6");
    expect(lambdaOf(c).bootTimeoutMs).toBe(45 * 60_000);
    // No TTL unless the stack sets one: a default expiry reaped prod 12 h after launch.
    expect(lambdaOf(c).ttlMs).toBeUndefined();
    expect(lambdaOf(c).maxHourlyPriceUsd).toBe(60);
    expect(lambdaOf(c).protect).toBe(false);
    const ops = { lambdaSshAllowlist: '["203.0.113.0/24"]' };
    expect(lambdaOf(parseStackConfig({ ...lambdaBase, ...ops }, { stack: "prod" })).protect).toBe(true);
    expect(parseStackConfig({ ...lambdaBase, ...ops }, { stack: "prod" }).production).toBe(true);
    expect(parseStackConfig({ ...lambdaBase, ...ops, production: "true" }, { stack: "live" })).toMatchObject({ production: true, lambda: { protect: true } });
    expect(parseStackConfig({ ...lambdaBase, ...ops, lambdaProtect: "true" }, { stack: "dev" })).toMatchObject({ production: false, lambda: { protect: true } });
    expect(c.production).toBe(false);
    // ICMP stays as Lambda's default policy unless the stack narrows it.
    expect(lambdaOf(c).icmpAllowlist).toEqual(["0.0.0.0/0"]);
    expect(lambdaOf(parseStackConfig({ ...lambdaBase, lambdaIcmpAllowlist: "[]" }, { stack: "dev" })).icmpAllowlist).toEqual([]);
    expect(c.sglang).toMatchObject({ model: "Qwen/Qwen3.5-397B-A17B", servedModelName: "qwen", port: 8000, preset: "seed" });
    expect(c.benchmark).toMatchObject({ inputLen: 8192, outputLen: 1024, numPrompts: 512, concurrency: 32, endpoint: "/v1/chat/completions" });
  });

  it("wraps secrets as Pulumi secrets and records only their presence", async () => {
    const { isSecret } = await import("@pulumi/pulumi");
    const c = parseStackConfig(lambdaBase, { stack: "dev" });
    expect(lambdaOf(c).apiKey.present).toBe(true);
    expect(await isSecret(lambdaOf(c).apiKey.value)).toBe(true);
    expect(c.hf.token.present).toBe(false);
  });

  it("takes workload sizes from the workload preset unless overridden", () => {
    const c = parseStackConfig({ ...lambdaBase, benchmarkWorkload: "smoke", benchmarkNumPrompts: "40" }, { stack: "dev" });
    expect(c.benchmark).toMatchObject({ inputLen: 512, outputLen: 64, numPrompts: 40, concurrency: 8 });
  });

  it("parses flag overrides, thresholds, lists and a TTL of 0 (no expiry)", () => {
    const c = parseStackConfig(
      {
        ...lambdaBase,
        sglangFlags: JSON.stringify({ "--mem-fraction-static": 0.8, "context-length": 131072 }),
        benchmarkThresholds: JSON.stringify({ minOutputThroughput: 1000, maxTtftP99Ms: 6000 }),
        lambdaFirewallAllowlist: JSON.stringify(["203.0.113.7/32", "198.51.100.0/24"]),
        sglangApiKey: "k",
        lambdaTtl: "0",
      },
      { stack: "dev" },
    );
    expect(c.sglang.flagOverrides).toEqual({ "mem-fraction-static": 0.8, "context-length": 131072 });
    expect(c.benchmark.thresholds).toEqual({ minOutputThroughput: 1000, maxTtftP99Ms: 6000 });
    expect(lambdaOf(c).firewallAllowlist).toEqual(["203.0.113.7/32", "198.51.100.0/24"]);
    expect(lambdaOf(c).ttlMs).toBeUndefined();
  });
});

// Each row: a bad setting, and the fragments its message must contain (the key, the value, the fix).
const badValues: Array<{ name: string; raw: RawConfig; expect: string[] }> = [
  { name: "unknown host mode", raw: { hostMode: "aws" }, expect: ["hostMode:", '"aws"', "is not one of lambda, existing, local", "Fix: pulumi config set hgx-inference:hostMode lambda"] },
  { name: "lambda mode without an API key", raw: { hostMode: "lambda" }, expect: ["lambdaApiKey:", 'is required when hostMode is "lambda"', "pulumi config set --secret hgx-inference:lambdaApiKey"] },
  { name: "existing mode without an address", raw: { hostMode: "existing", sshPrivateKey: "k" }, expect: ["sshHost:", 'is required when hostMode is "existing"', "pulumi config set hgx-inference:sshHost"] },
  { name: "existing mode without a private key", raw: { hostMode: "existing", sshHost: "10.1.2.3" }, expect: ["sshPrivateKey:", "pulumi config set --secret hgx-inference:sshPrivateKey"] },
  { name: "unknown Lambda region", raw: { ...lambdaBase, lambdaRegions: '["us-east-1","mars-north-1"]' }, expect: ["lambdaRegions:", '"mars-north-1"', "is not a Lambda Cloud region", "use one of us-east-1"] },
  { name: "empty region list", raw: { ...lambdaBase, lambdaRegions: "[]" }, expect: ["lambdaRegions:", "is empty"] },
  { name: "instance type of the wrong format", raw: { ...lambdaBase, lambdaInstanceType: "8xB200" }, expect: ["lambdaInstanceType:", '"8xB200"', "gpu_<N>x_<model>", "gpu_8x_b200_sxm6"] },
  { name: "image tagged latest without opt-in", raw: { ...lambdaBase, sglangImage: "lmsysorg/sglang:latest" }, expect: ["sglangImage:", '"lmsysorg/sglang:latest" is not pinned (tag latest)', "pin a release tag", "allowLatest"] },
  { name: "untagged image without opt-in", raw: { ...lambdaBase, sglangImage: "lmsysorg/sglang" }, expect: ["sglangImage:", '"lmsysorg/sglang" is not pinned (no tag)'] },
  { name: "served model name with a colon", raw: { ...lambdaBase, sglangServedModelName: "qwen:3.5" }, expect: ["sglangServedModelName:", '"qwen:3.5" contains ":"', "reserves for LoRA", 'without ":"'] },
  { name: "tp-size that does not divide the GPU count", raw: { ...lambdaBase, sglangFlags: '{"tp-size": 3}' }, expect: ["sglangFlags:", "--tp-size 3 does not divide the host's 8 GPUs", "use a divisor of 8"] },
  { name: "tp x dp larger than the instance's GPUs", raw: { ...lambdaBase, lambdaInstanceType: "gpu_4x_b200_sxm6" }, expect: ["sglangFlags:", "needs 8 GPUs but the host has 4", "lower --tp-size"] },
  { name: "mem-fraction outside (0, 1)", raw: { ...lambdaBase, sglangFlags: '{"mem-fraction-static": 1.2}' }, expect: ["sglangFlags:", "--mem-fraction-static 1.2 must be strictly between 0 and 1"] },
  { name: "mem-fraction that is not a number", raw: { ...lambdaBase, sglangFlags: '{"mem-fraction-static": "most"}' }, expect: ["sglangFlags:", '--mem-fraction-static = "most" is not a valid float'] },
  { name: "no_buffer with trtllm_mha (deprecated flag name)", raw: { ...lambdaBase, sglangFlags: '{"speculative-algorithm": "NEXTN", "mamba-scheduler-strategy": "no_buffer"}' }, expect: ["sglangFlags:", "--mamba-radix-cache-strategy no_buffer cannot run with the trtllm_mha attention backend"] },
  { name: "unknown tool-call parser", raw: { ...lambdaBase, sglangFlags: '{"tool-call-parser": "bogus"}' }, expect: ["sglangFlags:", '--tool-call-parser "bogus" is not accepted by SGLang 0.5.14', "qwen3_coder"] },
  { name: "flag the stack does not model", raw: { ...lambdaBase, sglangFlags: '{"nonsense-flag": 1}' }, expect: ["sglangFlags:", "--nonsense-flag is not a modelled SGLang flag", "sglangExtraArgs"] },
  { name: "unknown preset", raw: { ...lambdaBase, sglangPreset: "fast" }, expect: ["sglangPreset:", '"fast" is not a preset', "seed or b200"] },
  { name: "the native runner's bundled tokenizer with the remote runner", raw: { ...lambdaBase, benchmarkTokenizer: "bundled" }, expect: ["benchmarkTokenizer:", '= "bundled": the tokenizer "bundled" is the native runner', "vllm/vllm-openai:v0.18.0 (vllm bench serve) cannot load it", "pulumi config rm hgx-inference:benchmarkTokenizer"] },
  { name: "concurrency above the prompt count", raw: { ...lambdaBase, benchmarkNumPrompts: "16", benchmarkConcurrency: "32" }, expect: ["benchmarkConcurrency:", "= 32 exceeds benchmarkNumPrompts = 16", "lower the concurrency"] },
  { name: "negative TTL", raw: { ...lambdaBase, lambdaTtl: "-2h" }, expect: ["lambdaTtl:", '"-2h"', "is negative", "pulumi config set hgx-inference:lambdaTtl 8h"] },
  { name: "unparseable duration", raw: { ...lambdaBase, lambdaBootTimeout: "soon" }, expect: ["lambdaBootTimeout:", '"soon"', "is not a positive duration"] },
  { name: "malformed CIDR", raw: { ...lambdaBase, sglangApiKey: "k", lambdaFirewallAllowlist: '["10.0.0.0/33","203.0.113.5"]' }, expect: ["lambdaFirewallAllowlist:", '"10.0.0.0/33"', "prefix /33 must be 0-32", '"203.0.113.5"', "ADDRESS/PREFIX"] },
  { name: "IPv6 network for Lambda's IPv4-only firewall", raw: { ...lambdaBase, sglangApiKey: "k", lambdaFirewallAllowlist: '["2001:db8::/32"]' }, expect: ["lambdaFirewallAllowlist:", '"2001:db8::/32"', "is IPv6; only IPv4 networks are accepted here"] },
  { name: "port out of range", raw: { ...lambdaBase, sglangPort: "70000" }, expect: ["sglangPort:", '"70000"', "is outside 1-65535"] },
  { name: "port that is not a number", raw: { ...lambdaBase, sglangPort: "eighty" }, expect: ["sglangPort:", "is not a whole number"] },
  { name: "open serving port without an API key", raw: { ...lambdaBase, lambdaFirewallAllowlist: '["203.0.113.0/24"]' }, expect: ["sglangApiKey:", "is required when lambdaFirewallAllowlist opens the serving port"] },
  { name: "relative cache path", raw: { ...lambdaBase, hfCachePath: "~/.cache/huggingface" }, expect: ["hfCachePath:", "must be an absolute path"] },
  { name: "relative boot-work dir", raw: { ...lambdaBase, bootWorkDir: "hgx-boot" }, expect: ["bootWorkDir:", '"hgx-boot" is not an absolute path', "Fix: pulumi config set hgx-inference:bootWorkDir /var/lib/hgx-boot"] },
  { name: "boot-work dir with a shell word", raw: { ...lambdaBase, bootWorkDir: "/var/lib/$(reboot)" }, expect: ["bootWorkDir:", "is not an absolute path"] },
  { name: "unknown threshold", raw: { ...lambdaBase, benchmarkThresholds: '{"minTokPerS": 5}' }, expect: ["benchmarkThresholds.minTokPerS:", "is not a known threshold", "minOutputThroughput"] },
  { name: "flags that are not an object", raw: { ...lambdaBase, sglangFlags: "[1,2]" }, expect: ["sglangFlags:", "is not an object of flag"] },
  { name: "invalid JSON list", raw: { ...lambdaBase, sglangExtraArgs: "[--foo" }, expect: ["sglangExtraArgs:", "is not valid JSON"] },
  { name: "boolean that is not one", raw: { ...lambdaBase, sglangAllowLatest: "yes" }, expect: ["sglangAllowLatest:", '"yes"', "is not true or false"] },
  { name: "unpinned GPU probe image", raw: { ...lambdaBase, gpuProbeImage: "ubuntu" }, expect: ["gpuProbeImage:", '"ubuntu"', "is not a pinned image reference", "pulumi config set hgx-inference:gpuProbeImage ubuntu:24.04"] },
  { name: "downloader image with shell characters", raw: { ...lambdaBase, hfDownloaderImage: "python:3.12;touch /tmp/x" }, expect: ["hfDownloaderImage:", "is not a pinned image reference"] },
  { name: "model revision with shell characters", raw: { ...lambdaBase, hfRevision: "main;id" }, expect: ["hfRevision:", "is not a branch, tag or commit", "weightsCommit"] },
  { name: "vllm image on latest", raw: { ...lambdaBase, benchmarkVllmImage: "vllm/vllm-openai:latest" }, expect: ["benchmarkVllmImage:", "no `latest`", "vllm/vllm-openai:v0.18.0"] },
  { name: "SSH port of launched instances out of range", raw: { ...lambdaBase, lambdaSshPort: "0" }, expect: ["lambdaSshPort:", "is outside 1-65535"] },
  // Values that used to fail only mid-deploy (or never): each refused up front with key, value and fix.
  { name: "serving port 22 (SSH)", raw: { ...lambdaBase, sglangPort: "22" }, expect: ["sglangPort:", "= 22 is the host's SSH port", "pulumi config set hgx-inference:sglangPort 8000"] },
  { name: "serving port equal to the existing host's SSH port", raw: { hostMode: "existing", sshHost: "10.0.0.5", sshPrivateKey: "k", sshPort: "2222", sglangPort: "2222" }, expect: ["sglangPort:", "= 2222 is the host's SSH port"] },
  { name: "privileged serving port", raw: { ...lambdaBase, sglangPort: "80" }, expect: ["sglangPort:", "= 80 is a privileged port (< 1024)", "any of 1024-65535"] },
  { name: "boot timeout of 1 s", raw: { ...lambdaBase, lambdaBootTimeout: "1s" }, expect: ["lambdaBootTimeout:", '"1s" is outside 5m-12h', "pulumi config set hgx-inference:lambdaBootTimeout <duration 5m-12h>"] },
  { name: "benchmark timeout of 0.1 s", raw: { ...lambdaBase, benchmarkTimeout: "0.1s" }, expect: ["benchmarkTimeout:", '"0.1s" is outside 1m-24h'] },
  { name: "startup timeout of 1 ms", raw: { ...lambdaBase, sglangStartupTimeout: "1ms" }, expect: ["sglangStartupTimeout:", '"1ms" is outside 1m-24h'] },
  { name: "startup timeout beyond a timer's range", raw: { ...lambdaBase, sglangStartupTimeout: "30d" }, expect: ["sglangStartupTimeout:", '"30d" is outside 1m-24h'] },
  { name: "TTL of 100000 days", raw: { ...lambdaBase, lambdaTtl: "100000d" }, expect: ["lambdaTtl:", '"100000d" is outside 1h-365d'] },
  { name: "TTL of 30 s (shorter than a deploy)", raw: { ...lambdaBase, lambdaTtl: "30s" }, expect: ["lambdaTtl:", '"30s" is outside 1h-365d (a cold deploy takes about 50 minutes', "Fix: pulumi config set hgx-inference:lambdaTtl <duration 1h-365d>"] },
  { name: "TTL of 59 minutes", raw: { ...lambdaBase, lambdaTtl: "59m" }, expect: ["lambdaTtl:", '"59m" is outside 1h-365d'] },
  { name: "filesystem name against Lambda's rule", raw: { ...lambdaBase, lambdaFilesystemName: "9-cache_x" }, expect: ["lambdaFilesystemName:", '"9-cache_x" breaks Lambda\'s filesystem name rule', "pulumi config set hgx-inference:lambdaFilesystemName hgx-hf-cache"] },
  { name: "filesystem name over 60 characters", raw: { ...lambdaBase, lambdaFilesystemName: `a${"b".repeat(60)}` }, expect: ["lambdaFilesystemName:", "at most 60"] },
  { name: "blank image family", raw: { ...lambdaBase, lambdaImageFamily: "  " }, expect: ["lambdaImageFamily:", '"" is empty', "gpu-base-24-04"] },
  { name: "hex price read as 16", raw: { hostMode: "existing", sshHost: "10.0.0.5", sshPrivateKey: "k", hourlyPriceUsd: "0x10" }, expect: ["hourlyPriceUsd:", '"0x10" is not a plain decimal number >= 0', "45.92"] },
  { name: "exponent price", raw: { hostMode: "existing", sshHost: "10.0.0.5", sshPrivateKey: "k", hourlyPriceUsd: "1e3" }, expect: ["hourlyPriceUsd:", '"1e3" is not a plain decimal'] },
  { name: "price ceiling in hex", raw: { ...lambdaBase, lambdaMaxHourlyPriceUsd: "0x40" }, expect: ["lambdaMaxHourlyPriceUsd:", "is not a plain decimal"] },
  { name: "API URL over plain http to another host", raw: { ...lambdaBase, lambdaApiUrl: "http://api.example.com/api/v1" }, expect: ["lambdaApiUrl:", "sends the API key unencrypted to api.example.com", "https://cloud.lambda.ai/api/v1"] },
  { name: "API URL with credentials", raw: { ...lambdaBase, lambdaApiUrl: "https://u:p@cloud.lambda.ai/api/v1" }, expect: ["lambdaApiUrl:", "carries user:password@ credentials"] },
  { name: "API URL on another https host", raw: { ...lambdaBase, lambdaApiUrl: "https://cloud.lambda.ai.example.net/api/v1" }, expect: ["lambdaApiUrl:", "sends the API key to cloud.lambda.ai.example.net, which is neither the vendor's (cloud.lambda.ai, cloud.lambdalabs.com) nor this machine's loopback; if that host is yours (a proxy), set hgx-inference:lambdaApiUrlAllowAnyHost true", "Fix: pulumi config set hgx-inference:lambdaApiUrl https://cloud.lambda.ai/api/v1"] },
  { name: "SSH host with a space and a semicolon", raw: { hostMode: "existing", sshHost: "10.0.0.5; rm", sshPrivateKey: "k" }, expect: ["sshHost:", "is not an IP address or DNS host name"] },
  { name: "SSH host that is an ssh option", raw: { hostMode: "existing", sshHost: "-oProxyCommand=x", sshPrivateKey: "k" }, expect: ["sshHost:", "leading '-'"] },
  { name: "SSH user with a leading dash", raw: { hostMode: "existing", sshHost: "10.0.0.5", sshPrivateKey: "k", sshUser: "-oX" }, expect: ["sshUser:", "is not a login name"] },
  { name: "abbreviated secret flag in extra args", raw: { ...lambdaBase, sglangExtraArgs: '["--api-ke", "x"]' }, expect: ["sglangExtraArgs:", "--api-ke must not be passed in extraFlags: it is an abbreviation of --api-key"] },
  { name: "secret flag in --flag=value form", raw: { ...lambdaBase, sglangExtraArgs: '["--admin-api-key=x"]' }, expect: ["sglangExtraArgs:", "--admin-api-key must not be passed in extraFlags: it carries a secret"] },
  { name: "public key with options in front", raw: { ...lambdaBase, lambdaSshPrivateKey: "k", lambdaSshPublicKey: 'command="id" ssh-ed25519 AAAA' }, expect: ["lambdaSshPublicKey:", "is not one OpenSSH public key line"] },
  { name: "public key without its private key", raw: { ...lambdaBase, lambdaSshPublicKey: "ssh-ed25519 AAAA test" }, expect: ["lambdaSshPrivateKey:", "is required when lambdaSshPublicKey is set"] },
];

describe("parseStackConfig: bad values", () => {
  it("throws a RunError, which the Pulumi runtime prints without a stack trace", async () => {
    const { RunError } = await import("@pulumi/pulumi");
    let err: unknown;
    try {
      parseStackConfig({ hostMode: "aws" }, { stack: "t" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigValidationError);
    expect(RunError.isInstance(err)).toBe(true);
  });

  it.each(badValues)("$name", ({ raw, expect: fragments }) => {
    const problems = problemsOf(raw).join("\n");
    for (const fragment of fragments) expect(problems).toContain(fragment);
  });

  it("reports every problem in one error, not one per run", () => {
    const problems = problemsOf({
      hostMode: "lambda",
      lambdaRegions: '["nowhere-1"]',
      lambdaTtl: "-1h",
      sglangServedModelName: "a:b",
      benchmarkNumPrompts: "4",
      benchmarkConcurrency: "8",
    });
    expect(problems.map((p) => p.split(":")[0])).toEqual(
      expect.arrayContaining(["lambdaRegions", "lambdaTtl", "sglangServedModelName", "benchmarkConcurrency", "lambdaApiKey"]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(5);
  });

  it("never prints a secret's value in a message", () => {
    let message = "";
    try {
      parseStackConfig({ ...lambdaBase, lambdaTtl: "-1h" }, { stack: "t", plaintextSecretKeys: ["lambdaApiKey"] });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("lambdaApiKey: is stored in plaintext");
    expect(message).not.toContain("sk-test-not-a-real-key");
  });

  it("takes the vendor's API hosts and loopback for lambdaApiUrl; any other host only with lambdaApiUrlAllowAnyHost", () => {
    for (const url of ["https://cloud.lambda.ai/api/v1", "https://cloud.lambdalabs.com/api/v1", "https://eu.cloud.lambda.ai/api/v1", "http://127.0.0.1:8080/api/v1", "https://localhost/api/v1"])
      expect({ url, problems: problemsOf({ ...lambdaBase, lambdaApiUrl: url }) }).toEqual({ url, problems: [] });
    for (const url of ["https://evil.example/api/v1", "https://notlambda.ai/api/v1", "https://cloud.lambda.ai.evil.example/api/v1", "https://lambdalabs.com/api/v1"])
      expect(problemsOf({ ...lambdaBase, lambdaApiUrl: url }).join("\n")).toContain("lambdaApiUrlAllowAnyHost");
    expect(problemsOf({ ...lambdaBase, lambdaApiUrl: "https://proxy.example/api/v1", lambdaApiUrlAllowAnyHost: "true" })).toEqual([]);
    // The override never allows plain http off this machine.
    expect(problemsOf({ ...lambdaBase, lambdaApiUrl: "http://proxy.example/api/v1", lambdaApiUrlAllowAnyHost: "true" }).join("\n")).toContain("unencrypted");
  });

  it("refuses SSH open to the world on a protected stack (prod by name, production: true, lambdaProtect), naming the key and the fix", () => {
    const fix = "Fix: list only the networks that deploy and operate the host: pulumi config set --path 'hgx-inference:lambdaSshAllowlist[0]' <your-ip>/32";
    const cases: [RawConfig, string, string][] = [
      [lambdaBase, "prod", "production stack 'prod'"], // the default allowlist is the world
      [{ ...lambdaBase, lambdaSshAllowlist: '["0.0.0.0/0"]' }, "org/hgx-inference/Production", "production stack 'org/hgx-inference/Production'"],
      [{ ...lambdaBase, production: "true" }, "live", "production: true"],
      [{ ...lambdaBase, lambdaProtect: "true", lambdaSshAllowlist: '["0.0.0.0/1","128.0.0.0/1"]' }, "staging", "lambdaProtect: true"],
      [{ ...lambdaBase, lambdaSshAllowlist: '["10.0.0.0/7"]' }, "prod", "production stack 'prod'"],
    ];
    for (const [raw, stack, why] of cases) {
      const problems = problemsOf(raw, { stack }).join("\n");
      expect(problems).toContain("lambdaSshAllowlist: = [");
      expect(problems).toContain(`opens SSH to the world`);
      expect(problems).toContain(`on a protected stack (${why}). ${fix}`);
    }
    // Narrow enough, or not protected: accepted.
    expect(problemsOf({ ...lambdaBase, lambdaSshAllowlist: '["203.0.113.0/24","10.0.0.0/8"]' }, { stack: "prod" }).join("\n")).toContain("more than one /8");
    expect(problemsOf({ ...lambdaBase, lambdaSshAllowlist: '["203.0.113.0/24","10.0.0.0/9"]' }, { stack: "prod" })).toEqual([]);
    expect(problemsOf(lambdaBase, { stack: "dev" })).toEqual([]);
    expect(problemsOf({ ...lambdaBase, production: "yes" }, { stack: "dev" }).join("\n")).toContain("production: = \"yes\" is not true or false");
  });

  it("refuses a control character in a secret, naming the key and the fix, never the value", () => {
    const tokenKeys = ["lambdaApiKey", "sglangApiKey", "hfToken"] as const;
    for (const key of tokenKeys) {
      for (const value of ["sk-first\nrm -rf ~", "sk\r", "sk\tx", "sk\x00", "sk\x7f"]) {
        const problems = problemsOf({ ...lambdaBase, [key]: value }).join("\n");
        expect(problems).toContain(`${key}: contains a control character`);
        expect(problems).toContain(`Fix: set it again as one line, e.g. pulumi config set --secret hgx-inference:${key}`);
        expect(problems).not.toContain("sk");
      }
    }
    // A private key keeps its line breaks (CRLF too), but nothing else below 0x20.
    const pem = "-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3Blbn\nNzaC1r\n-----END OPENSSH PRIVATE KEY-----\n";
    expect(problemsOf({ hostMode: "existing", sshHost: "10.0.0.5", sshPrivateKey: pem, sshHostKeyTrust: "tofu" })).toEqual([]);
    const bad = problemsOf({ hostMode: "existing", sshHost: "10.0.0.5", sshPrivateKey: `${pem}\x1b[0m`, sshHostKeyTrust: "tofu" }).join("\n");
    expect(bad).toContain("sshPrivateKey: contains a control character other than a line break (the value is not shown)");
    expect(bad).not.toContain("b3Blbn");
  });

  it("names unknown keys and suggests the nearest real one", () => {
    const problems = problemsOf(lambdaBase, { unknownKeys: ["sglangPrt"] }).join("\n");
    expect(problems).toContain("sglangPrt: is not a setting of this stack (did you mean sglangPort?)");
    expect(closestKey("totallyDifferent", Object.keys(CONFIG_SCHEMA))).toBeUndefined();
  });
});

describe("pure helpers", () => {
  it.each([
    ["gpu_8x_b200_sxm6", 8],
    ["gpu_1x_a10", 1],
    ["gpu_8x_h100_sxm5", 8],
    ["b200", undefined],
  ])("gpuCountOfInstanceType(%s) = %s", (type, count) => expect(gpuCountOfInstanceType(type)).toBe(count));

  it.each([
    ["0.0.0.0/0", undefined],
    ["::/0", undefined],
    ["10.0.0.0/8", undefined],
    ["10.0.0.0", "expected ADDRESS/PREFIX"],
    ["10.0.0/8", "is not a plain dotted-decimal IPv4 address"],
    ["000.0.0.0/0", "is not a plain dotted-decimal IPv4 address"],
    ["1.2.3.4/0", "has host bits set for /0: it means the network 0.0.0.0/0 (every address)"],
    ["1.2.3.4/24", "it means the network 1.2.3.0/24"],
    ["10.0.0.0/08", "prefix /08 must be 0-32"],
    ["nonsense/8", "is not an IPv4 or IPv6 address"],
    ["2001:db8::/129", "prefix /129 must be 0-128"],
    ["1.2.3.4/x", "prefix /x must be 0-32"],
  ])("cidrProblem(%s)", (cidr, problem) => {
    const result = cidrProblem(cidr);
    if (problem === undefined) expect(result).toBeUndefined();
    else expect(result).toContain(problem);
  });
});

describe("Pulumi.yaml and the stack files", () => {
  it("Pulumi.yaml declares every setting with the schema's type and default (run npm run sync:pulumi-yaml)", () => {
    const onDisk = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(projectFileDocument())));
    for (const entry of Object.values(onDisk.config as Record<string, { default?: unknown }>)) {
      // A declared key without a default is REQUIRED by the Pulumi CLI: every key needs one.
      expect(entry.default).not.toBeUndefined();
    }
  });

  it("Pulumi.dev.yaml is a valid seed setup once the API key is set", () => {
    const raw = stackFileRaw("Pulumi.dev.yaml");
    expect(problemsOf(raw).join("\n")).toContain("lambdaApiKey");
    const c = parseWithLayerChecks({ ...raw, lambdaApiKey: "sk" }, { stack: "dev" });
    expect(lambdaOf(c).instanceType).toBe("gpu_8x_b200_sxm6");
    expect(c.sglang.preset).toBe("seed");
  });

  it("Pulumi.local.yaml is valid as it stands", () => {
    const c = parseWithLayerChecks(stackFileRaw("Pulumi.local.yaml"), { stack: "local" });
    expect(c.hostMode).toBe("local");
    expect(c.benchmark.runner).toBe("native");
    // the simulator's stack chooses the packaged tokenizer explicitly; the seed's uses the model's own
    expect(c.benchmark.tokenizer).toBe("bundled");
  });
});
