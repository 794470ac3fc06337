/**
 * Shared set-up of the whole-program engine tests that deploy to an SSH host (existing-host and
 * lambda mode): the images the host needs (built from local files: nothing can be pulled), and the
 * stack config that points the program at them. Everything else is the product's own default.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { DEFAULT_REMOTE_RESULT_DIR } from "../../../components/benchmark/remoteRunner";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { freePort } from "../../fixtures/net";
import { createProjectStack, type EngineStack } from "../../fixtures/pulumi-engine";
import { buildSimulatorImage } from "../../fixtures/sglang-simulator";
import type { SshTestHost } from "../../fixtures/ssh-host";
import { ensureHfDownloaderStandInImage, ensureVllmStandInImage } from "../../fixtures/stand-in-images";

/** Images on the host's engine that stand in for what a real host pulls from registries. */
export interface HostImages {
  readonly sglang: string;
  readonly vllm: string;
  readonly downloader: string;
}

export async function buildHostImages(): Promise<HostImages> {
  const sglang = await buildSimulatorImage();
  const vllm = await ensureVllmStandInImage();
  const downloader = await ensureHfDownloaderStandInImage();
  return { sglang, vllm, downloader };
}

/** Secrets a deploy carries; each must stay out of state, output and stored command lines. */
export interface DeploySecrets {
  readonly sglangApiKey: string;
  readonly hfToken: string;
}

export function newSecrets(): DeploySecrets {
  return { sglangApiKey: `sk-engine-${randomBytes(8).toString("hex")}`, hfToken: `hf_engine${randomBytes(8).toString("hex")}` };
}

/**
 * Config shared by the SSH-host stacks: the simulator as the SGLang image, the stand-ins as the
 * downloader and vllm images, a small workload, and the one test-rig setting (no unlimited memlock,
 * which this machine's kernel refuses even to root).
 */
export function sshStackConfig(host: SshTestHost, images: HostImages, secrets: DeploySecrets, port: number): ConfigMap {
  return {
    "hgx-inference:gpuProbeImage": { value: host.gpuProbeImage },
    "hgx-inference:sglangImage": { value: images.sglang },
    "hgx-inference:sglangPreset": { value: "seed" },
    "hgx-inference:sglangPort": { value: String(port) },
    "hgx-inference:sglangApiKey": { value: secrets.sglangApiKey, secret: true },
    "hgx-inference:sglangStartupTimeout": { value: "5m" },
    "hgx-inference:sglangHealthStartPeriod": { value: "30s" },
    "hgx-inference:hfToken": { value: secrets.hfToken, secret: true },
    "hgx-inference:hfDownloaderImage": { value: images.downloader },
    "hgx-inference:benchmarkRunner": { value: "remote" },
    "hgx-inference:benchmarkVllmImage": { value: images.vllm },
    // The stand-in's cache holds no tokenizer.json (no hub here): the runner's bundled Qwen3 tokenizer, chosen explicitly.
    "hgx-inference:benchmarkTokenizer": { value: "bundled" },
    "hgx-inference:benchmarkWorkload": { value: "smoke" },
    "hgx-inference:benchmarkTimeout": { value: "10m" },
    "hgx-inference:testRigOmitMemlockUlimit": { value: "true" },
  };
}

/** Config of an `existing`-mode stack on the SSH test host: its address, login and pinned host key, and a price. */
export function existingHostConfig(host: SshTestHost): ConfigMap {
  return {
    "hgx-inference:hostMode": { value: "existing" },
    "hgx-inference:sshHost": { value: host.host },
    "hgx-inference:sshPort": { value: String(host.port) },
    "hgx-inference:sshUser": { value: host.user },
    "hgx-inference:sshPrivateKey": { value: host.privateKey, secret: true },
    // Pinned: the test host's own host key, as `ssh-keyscan -t ed25519` would print it.
    "hgx-inference:sshHostKey": { value: host.hostPublicKey },
    "hgx-inference:hourlyPriceUsd": { value: "3.5" },
  };
}

/** Config pointing a lambda-mode stack at the Lambda emulator, whose instances are the SSH test host. */
export function lambdaEmulatorConfig(host: SshTestHost, emulator: { readonly apiKey: string; readonly baseUrl: string }): ConfigMap {
  return {
    "hgx-inference:lambdaApiKey": { value: emulator.apiKey, secret: true },
    "hgx-inference:lambdaApiUrl": { value: emulator.baseUrl },
    "hgx-inference:lambdaSshPublicKey": { value: host.publicKey },
    "hgx-inference:lambdaSshPrivateKey": { value: host.privateKey, secret: true },
    "hgx-inference:lambdaSshPort": { value: String(host.port) },
  };
}

/**
 * The `lambda` stack of the project on the dev stack's settings, pointed at the emulator and the SSH test
 * host with the shared SSH-host config, plus the test's own settings.
 */
export async function createLambdaStack(opts: {
  readonly host: SshTestHost;
  readonly emulator: { readonly apiKey: string; readonly baseUrl: string };
  readonly images: HostImages;
  readonly secrets: DeploySecrets;
  readonly config: ConfigMap;
  readonly structuredConfig: Readonly<Record<string, unknown>>;
  /** Extra environment for the engine and its providers (e.g. XDG_CACHE_HOME for the docker provider's files). */
  readonly envVars?: Record<string, string>;
  /** The stack's name (it names the containers on the host): a test's own keeps them apart from another's. @default "lambda" */
  readonly stackName?: string;
}): Promise<EngineStack> {
  return createProjectStack({
    stackName: opts.stackName ?? "lambda",
    baseStackFile: "Pulumi.dev.yaml",
    config: { ...sshStackConfig(opts.host, opts.images, opts.secrets, await freePort()), ...lambdaEmulatorConfig(opts.host, opts.emulator), ...opts.config },
    structuredConfig: opts.structuredConfig,
    ...(opts.envVars ? { envVars: opts.envVars } : {}),
  });
}

/**
 * The remote benchmark writes its result under DEFAULT_REMOTE_RESULT_DIR on the host, which here is
 * this machine's own /var/tmp: returns the clean-up that removes it again if this test created it.
 */
export function remoteResultDirCleanup(): () => void {
  const existed = fs.existsSync(DEFAULT_REMOTE_RESULT_DIR);
  if (!existed) return () => fs.rmSync(DEFAULT_REMOTE_RESULT_DIR, { recursive: true, force: true });
  // Left by someone else: keep it, only this run's results (named by the workload) go.
  const before = new Set(fs.readdirSync(DEFAULT_REMOTE_RESULT_DIR));
  return () => {
    for (const f of fs.readdirSync(DEFAULT_REMOTE_RESULT_DIR)) if (!before.has(f)) fs.rmSync(`${DEFAULT_REMOTE_RESULT_DIR}/${f}`, { force: true });
  };
}

/**
 * The docker provider's SSH files under a test's XDG_CACHE_HOME (`hgx-inference/docker-ssh/<stack dir>/`):
 * which exist, their modes, the known_hosts text, and a witness comment line in known_hosts (an
 * update rewrites the file, so a preview that wrote it would remove the line).
 */
export function dockerSshState(xdgCache: string): {
  files: string[];
  dirMode?: number;
  keyMode?: number;
  knownHosts?: string;
  markKnownHosts(): { stillMarked(): boolean; unmark(): void };
} {
  const root = `${xdgCache}/hgx-inference/docker-ssh`;
  const dirs = fs.existsSync(root) ? fs.readdirSync(root).map((d) => `${root}/${d}`) : [];
  const files = dirs.flatMap((d) => fs.readdirSync(d).map((f) => `${d}/${f}`));
  const key = files.find((f) => f.endsWith(".key"));
  const known = files.find((f) => f.endsWith(".known_hosts"));
  return {
    files,
    ...(dirs[0] ? { dirMode: fs.statSync(dirs[0]).mode & 0o777 } : {}),
    ...(key ? { keyMode: fs.statSync(key).mode & 0o777 } : {}),
    ...(known ? { knownHosts: fs.readFileSync(known, "utf8") } : {}),
    markKnownHosts() {
      if (!known) throw new Error(`no known_hosts file under ${root}`);
      const original = fs.readFileSync(known, "utf8");
      const witness = "# witness: a write by the program removes this line\n";
      fs.writeFileSync(known, original + witness);
      return {
        stillMarked: () => fs.readFileSync(known, "utf8").endsWith(witness),
        unmark: () => fs.writeFileSync(known, original),
      };
    },
  };
}
