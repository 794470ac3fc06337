// Dynamic resource: an SSH key registered with Lambda Cloud. Either a given public key, or a pair
// the API generates, whose private half is returned once and kept only as a secret output.
import * as pulumi from "@pulumi/pulumi";
import {
  API_ROUTING_KEYS,
  changedKeys,
  plain,
  clientFor,
  containsUnknown,
  LAMBDA_PROVIDER_VERSION,
  progress,
  type LambdaCommonArgs,
  type LambdaCommonInputs,
  type StackConfigView,
  withoutStackTraces,
} from "./common";
import { isLambdaError } from "./errors";
import type { GeneratedSshKey } from "./types";

export interface SshKeyInputs extends LambdaCommonInputs {
  /** Name in the Lambda account (1-64 characters); referenced by launches. */
  keyName: string;
  /** OpenSSH public key to register; absent or empty = have the API generate a pair. */
  publicKey?: string;
}

export interface SshKeyOutputs extends SshKeyInputs {
  keyId: string;
  /** The registered public key (given or generated). */
  publicKeyOpenssh: string;
  /** Generated private key (secret output); "" when a public key was given. */
  privateKey: string;
}

/** Changing either makes a different key: replace (delete first, the name is reused). */
const REPLACE_ON = ["keyName", "publicKey"] as const;

export function validateSshKeyInputs(news: SshKeyInputs): { property: string; reason: string }[] {
  const failures: { property: string; reason: string }[] = [];
  if (!containsUnknown(news.keyName) && (!news.keyName || news.keyName.length > 64)) {
    failures.push({ property: "keyName", reason: `keyName must be 1-64 characters, got "${news.keyName ?? ""}"` });
  }
  const pk = news.publicKey;
  if (pk && !containsUnknown(pk) && !/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+/.test(pk.trim())) {
    failures.push({
      property: "publicKey",
      reason: "publicKey must be an OpenSSH public key line (\"ssh-ed25519 AAAA... comment\"); pass the .pub file's content, not the private key",
    });
  }
  return failures;
}

export class SshKeyProvider implements pulumi.dynamic.ResourceProvider<SshKeyInputs, SshKeyOutputs> {
  private stackConfig: StackConfigView | undefined = undefined;

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.stackConfig = req.config;
  }

  async check(_olds: SshKeyInputs, news: SshKeyInputs): Promise<pulumi.dynamic.CheckResult<SshKeyInputs>> {
    const inputs: SshKeyInputs = { ...news, publicKey: news.publicKey ? news.publicKey.trim() : undefined };
    return { inputs: plain(inputs), failures: validateSshKeyInputs(inputs) };
  }

  async diff(_id: string, olds: SshKeyOutputs, news: SshKeyInputs): Promise<pulumi.dynamic.DiffResult> {
    const normalizedNews = { ...news, publicKey: news.publicKey || undefined };
    const normalizedOlds = { ...olds, publicKey: olds.publicKey || undefined };
    const replaces = changedKeys<SshKeyInputs>(normalizedOlds, normalizedNews, REPLACE_ON);
    const updates = changedKeys<SshKeyInputs>(olds, news, API_ROUTING_KEYS);
    return { changes: replaces.length + updates.length > 0, replaces, deleteBeforeReplace: true };
  }

  async create(inputs: SshKeyInputs): Promise<{ id: string; outs: SshKeyOutputs }> {
    const client = clientFor(inputs, this.stackConfig);
    const wanted = inputs.publicKey?.trim() || undefined;
    const existing = (await client.listSshKeys()).find((k) => k.name === inputs.keyName);
    if (existing) {
      if (wanted && existing.public_key.trim() === wanted) {
        // Same name and key: left by an interrupted run of this stack. Adopt it.
        progress(`SSH key "${inputs.keyName}" already registered with the same public key: adopting ${existing.id}`);
        return { id: existing.id, outs: plain({ ...inputs, publicKey: wanted, keyId: existing.id, publicKeyOpenssh: existing.public_key, privateKey: "" }) };
      }
      if (wanted) {
        throw new Error(
          `An SSH key named "${inputs.keyName}" already exists in the Lambda account with a different public key. ` +
            `Delete it in the dashboard (SSH keys) if it is stale, or give this stack another name/stack, then re-run.`,
        );
      }
      // A generated key of this name whose private half was lost (a run interrupted between the
      // API call and the state write): it is useless, and the name belongs to this stack.
      progress(`SSH key "${inputs.keyName}" exists but its generated private key was lost by an interrupted run: replacing it`);
      await client.deleteSshKey(existing.id).catch((e: unknown) => {
        if (!isLambdaError(e, "not-found")) throw e;
      });
    }
    let created;
    try {
      created = await client.addSshKey(inputs.keyName, wanted);
    } catch (e) {
      if (isLambdaError(e, "duplicate")) {
        throw new Error(`SSH key name "${inputs.keyName}" was taken while creating it (another run on the same stack?). Re-run once the other run finished.`);
      }
      throw e;
    }
    const privateKey = wanted ? "" : (created as GeneratedSshKey).private_key ?? "";
    if (!wanted && !privateKey) {
      throw new Error(`Lambda Cloud generated SSH key "${inputs.keyName}" (${created.id}) without returning its private key; delete it in the dashboard and re-run.`);
    }
    return {
      id: created.id,
      outs: plain({ ...inputs, publicKey: wanted, keyId: created.id, publicKeyOpenssh: created.public_key, privateKey }),
    };
  }

  async read(id: string, props?: SshKeyOutputs): Promise<pulumi.dynamic.ReadResult<SshKeyOutputs>> {
    if (!props) throw new Error(`SshKey read(${id}) needs the resource's last state; import is not supported.`);
    const client = clientFor(props, this.stackConfig);
    const key = (await client.listSshKeys()).find((k) => k.id === id);
    // Gone: an empty id tells the engine the resource no longer exists.
    if (!key) return { id: "", props: {} as SshKeyOutputs };
    return { id, props: plain({ ...props, keyName: key.name, publicKeyOpenssh: key.public_key }) };
  }

  async update(id: string, olds: SshKeyOutputs, news: SshKeyInputs): Promise<{ outs: SshKeyOutputs }> {
    // Only provider version / API routing changed: re-read the key through the new settings.
    const client = clientFor(news, this.stackConfig);
    const key = (await client.listSshKeys()).find((k) => k.id === id);
    if (!key) throw new Error(`SSH key ${id} ("${olds.keyName}") no longer exists in the Lambda account: run \`pulumi refresh\`, then \`pulumi up\`.`);
    return { outs: plain({ ...olds, ...news, publicKey: olds.publicKey, publicKeyOpenssh: key.public_key }) };
  }

  async delete(id: string, props: SshKeyOutputs): Promise<void> {
    const client = clientFor(props, this.stackConfig);
    // The API answers a delete of an unknown key with 400 invalid-parameters, not 404: look first.
    if (!(await client.listSshKeys()).some((k) => k.id === id)) return;
    try {
      await client.deleteSshKey(id);
    } catch (e) {
      if (!isLambdaError(e, "not-found")) throw e;
    }
  }
}

export interface SshKeyArgs extends LambdaCommonArgs {
  /** Name in the Lambda account (1-64 characters). */
  keyName: pulumi.Input<string>;
  /** OpenSSH public key; absent = the API generates a pair (private key -> secret output `privateKey`). */
  publicKey?: pulumi.Input<string>;
}

/** An SSH key registered with Lambda Cloud (token `pulumi-nodejs:dynamic/lambda:SshKey`). */
export class SshKey extends pulumi.dynamic.Resource {
  declare readonly keyId: pulumi.Output<string>;
  declare readonly keyName: pulumi.Output<string>;
  declare readonly publicKeyOpenssh: pulumi.Output<string>;
  /** Generated private key; "" when a public key was given. Secret. */
  declare readonly privateKey: pulumi.Output<string>;

  constructor(name: string, args: SshKeyArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      withoutStackTraces(new SshKeyProvider()),
      name,
      { ...args, providerVersion: LAMBDA_PROVIDER_VERSION, keyId: undefined, publicKeyOpenssh: undefined, privateKey: undefined },
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "privateKey"] },
      "lambda",
      "SshKey",
    );
  }
}
