// Dynamic resource: the ed25519 SSH HOST key of one Lambda machine, generated once by the stack
// and kept in state (the private half only as a secret output). It reaches the instance through
// cloud-init `user_data` (cloudInit.ts), and every connection to the instance pins its public half,
// so nothing is sent to a host that cannot prove it holds this key.
import * as pulumi from "@pulumi/pulumi";
import { plain } from "./common";

export interface HostKeyPairInputs {
  /** Comment written into the public key (the machine's name), for humans reading authorized/known_hosts files. */
  comment: string;
}

export interface HostKeyPairOutputs extends HostKeyPairInputs {
  /** OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`), the format sshd and cloud-init read. Secret. */
  privateKeyOpenssh: string;
  /** `ssh-ed25519 <base64> <comment>`. */
  publicKey: string;
}

/**
 * A fresh ed25519 pair in OpenSSH formats. Node generates it; `sshpk` writes the OpenSSH private-key
 * format, which Node cannot (sshd and cloud-init do not take PKCS#8 for ed25519).
 * Modules are taken with `require` here: this runs in Pulumi's dynamic-provider process.
 */
export function generateHostKeyPair(comment: string): { privateKeyOpenssh: string; publicKey: string } {
  const { generateKeyPairSync } = require("crypto") as typeof import("crypto");
  const sshpk = require("sshpk") as typeof import("sshpk");
  const { privateKey } = generateKeyPairSync("ed25519");
  const parsed = sshpk.parsePrivateKey(privateKey.export({ type: "pkcs8", format: "pem" }).toString(), "pkcs8");
  parsed.comment = comment;
  return { privateKeyOpenssh: parsed.toString("ssh"), publicKey: parsed.toPublic().toString("ssh") };
}

export class HostKeyPairProvider implements pulumi.dynamic.ResourceProvider<HostKeyPairInputs, HostKeyPairOutputs> {
  async check(_olds: HostKeyPairInputs, news: HostKeyPairInputs): Promise<pulumi.dynamic.CheckResult<HostKeyPairInputs>> {
    const failures = typeof news.comment === "string" && /^[A-Za-z0-9@._:-]{0,128}$/.test(news.comment) ? [] : [{ property: "comment", reason: "comment must be up to 128 letters, digits, '@', '.', '_', ':', '-'" }];
    return { inputs: plain(news), failures };
  }

  async diff(): Promise<pulumi.dynamic.DiffResult> {
    // Never replaced: a new key would lock the stack out of the instance it launched with the old one.
    return { changes: false, replaces: [] };
  }

  async create(inputs: HostKeyPairInputs): Promise<{ id: string; outs: HostKeyPairOutputs }> {
    const pair = generateHostKeyPair(inputs.comment);
    const { createHash } = require("crypto") as typeof import("crypto");
    const id = createHash("sha256").update(pair.publicKey).digest("hex").slice(0, 16);
    return { id, outs: plain({ ...inputs, ...pair }) };
  }

  async read(id: string, props?: HostKeyPairOutputs): Promise<pulumi.dynamic.ReadResult<HostKeyPairOutputs>> {
    // The state is the only copy: nothing outside it to compare with.
    return { id, props };
  }
}

export interface HostKeyPairArgs {
  /** @default the resource name */
  comment?: pulumi.Input<string>;
}

/** An SSH host key pair kept in state (token `pulumi-nodejs:dynamic/lambda:HostKeyPair`). */
export class HostKeyPair extends pulumi.dynamic.Resource {
  /** Secret. */
  declare readonly privateKeyOpenssh: pulumi.Output<string>;
  declare readonly publicKey: pulumi.Output<string>;

  constructor(name: string, args: HostKeyPairArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      new HostKeyPairProvider(),
      name,
      { comment: args.comment ?? name, privateKeyOpenssh: undefined, publicKey: undefined },
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "privateKeyOpenssh"] },
      "lambda",
      "HostKeyPair",
    );
  }
}
