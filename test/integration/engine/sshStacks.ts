/**
 * Shared set-up of the whole-program engine tests that deploy to an SSH host (existing-host and
 * lambda mode): the images the host needs (built from local files: nothing can be pulled), and the
 * stack config that points the program at them. Everything else is the product's own default.
 */
import { randomBytes } from "node:crypto";
import type { ConfigMap } from "@pulumi/pulumi/automation";
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
