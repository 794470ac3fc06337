// Dynamic resource: a Lambda Cloud persistent filesystem (regional NFS) that keeps the Hugging
// Face cache across teardowns. Its name carries the hash of the stack's identity (see identity.ts),
// so an existing filesystem of exactly that name is this stack's own (left by an interrupted run,
// or re-attached with the identity's id) and is adopted. A filesystem this resource created is
// recorded as fresh (empty) for the instance, which may move it to the region where a launch
// succeeds: read, update and delete therefore find it by id, else by its name.
import * as pulumi from "@pulumi/pulumi";
import {
  API_ROUTING_KEYS,
  changedKeys,
  plain,
  clientFor,
  containsUnknown,
  deleteWhileInUse,
  freshFilesystems,
  LAMBDA_PROVIDER_VERSION,
  progress,
  regionFailures,
  type LambdaCommonArgs,
  type LambdaCommonInputs,
  type StackConfigView,
  withoutStackTraces,
  type WaitClock,
} from "./common";
import { isLambdaError } from "./errors";
import type { LambdaClient } from "./client";
import type { Filesystem as ApiFilesystem } from "./types";

export interface FilesystemInputs extends LambdaCommonInputs {
  /** Filesystem name: letters first, then letters, digits and "-" (max 60). */
  fsName: string;
  /**
   * Regions in preference order, used only when the filesystem has to be created: it goes to
   * the first one where `instanceType` has capacity (else the first). A creation hint only:
   * changing it later does not move an existing filesystem.
   */
  regions: string[];
  /** Instance type whose capacity picks the creation region (creation hint, like `regions`). */
  instanceType: string;
}

export interface FilesystemOutputs extends FilesystemInputs {
  filesystemId: string;
  /** Region the filesystem lives in; it pins the instance's region. */
  region: string;
  /** Where Lambda mounts it on instances: /lambda/nfs/<name>. */
  mountPoint: string;
  /** Whether it existed before this resource was created (data from earlier runs). */
  adopted: boolean;
}

const FS_NAME = /^[a-zA-Z]+[0-9a-zA-Z-]*$/;

export function validateFilesystemInputs(news: FilesystemInputs): { property: string; reason: string }[] {
  const failures: { property: string; reason: string }[] = [];
  if (!containsUnknown(news.fsName) && (!FS_NAME.test(news.fsName ?? "") || news.fsName.length > 60)) {
    failures.push({
      property: "fsName",
      reason: `filesystem name "${news.fsName ?? ""}" is invalid: start with a letter, then letters, digits or "-", at most 60 characters (e.g. "hf-cache")`,
    });
  }
  failures.push(...regionFailures(news.regions, "regions must list at least one Lambda region, e.g. [\"us-east-1\"]"));
  return failures;
}

/** Creation region: the first preferred region with capacity for the instance type, else the first preferred. */
export function chooseFilesystemRegion(preference: readonly string[], capacity: readonly string[]): string {
  return preference.find((r) => capacity.includes(r)) ?? preference[0];
}

function outsFrom(inputs: FilesystemInputs, fs: ApiFilesystem, adopted: boolean): FilesystemOutputs {
  return plain({
    ...inputs,
    filesystemId: fs.id,
    region: fs.region.name,
    mountPoint: fs.mount_point || `/lambda/nfs/${fs.name}`,
    adopted,
  });
}

async function findByName(client: LambdaClient, name: string): Promise<ApiFilesystem | undefined> {
  return (await client.listFilesystems()).find((f) => f.name === name);
}

/**
 * The filesystem this resource manages: by its recorded id, else by its exact name. The name
 * carries the stack's identity, and an empty filesystem may have been moved (deleted and created
 * again in the region where the launch succeeded) by the instance, which gives it a new id.
 */
export function findOwn<T extends { id: string; name: string }>(listed: readonly T[], id: string, name: string): T | undefined {
  return listed.find((f) => f.id === id) ?? listed.find((f) => f.name === name);
}

export class FilesystemProvider implements pulumi.dynamic.ResourceProvider<FilesystemInputs, FilesystemOutputs> {
  private stackConfig: StackConfigView | undefined = undefined;

  /** @param clock time source of the in-use retries on delete. @default systemClock() */
  constructor(private readonly clock?: WaitClock) {}

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.stackConfig = req.config;
  }

  async check(_olds: FilesystemInputs, news: FilesystemInputs): Promise<pulumi.dynamic.CheckResult<FilesystemInputs>> {
    return { inputs: plain(news), failures: validateFilesystemInputs(news) };
  }

  async diff(_id: string, olds: FilesystemOutputs, news: FilesystemInputs): Promise<pulumi.dynamic.DiffResult> {
    // `regions` and `instanceType` are creation hints: a filesystem never moves, so they are
    // deliberately left out (a change there is not an update of this resource).
    const replaces = changedKeys<FilesystemInputs>(olds, news, ["fsName"]);
    const updates = changedKeys<FilesystemInputs>(olds, news, API_ROUTING_KEYS);
    return { changes: replaces.length + updates.length > 0, replaces, deleteBeforeReplace: true };
  }

  async create(inputs: FilesystemInputs): Promise<{ id: string; outs: FilesystemOutputs }> {
    const client = clientFor(inputs, this.stackConfig);
    const existing = await findByName(client, inputs.fsName);
    if (existing) {
      if (!inputs.regions.includes(existing.region.name)) {
        progress(
          `filesystem "${inputs.fsName}" already exists in ${existing.region.name}, which is not among regions [${inputs.regions.join(", ")}]: ` +
            `the instance will launch in ${existing.region.name} because a filesystem only attaches in its own region`,
        );
      } else {
        progress(`filesystem "${inputs.fsName}" already exists in ${existing.region.name}: adopting it (${existing.id}), its data is kept`);
      }
      return { id: existing.id, outs: outsFrom(inputs, existing, true) };
    }
    const types = await client.listInstanceTypes();
    const capacity = (types[inputs.instanceType]?.regions_with_capacity_available ?? []).map((r) => r.name);
    const region = chooseFilesystemRegion(inputs.regions, capacity);
    try {
      const fs = await client.createFilesystem(inputs.fsName, region);
      // Empty, and nothing has mounted it: the instance may move it to where capacity is.
      freshFilesystems().add(fs.id);
      progress(`created filesystem "${inputs.fsName}" (${fs.id}) in ${region}`);
      return { id: fs.id, outs: outsFrom(inputs, fs, false) };
    } catch (e) {
      if (isLambdaError(e, "duplicate")) {
        // Lost response on a retried create, or a concurrent run: the name is ours now.
        const fs = await findByName(client, inputs.fsName);
        if (fs) return { id: fs.id, outs: outsFrom(inputs, fs, true) };
      }
      throw e;
    }
  }

  async read(id: string, props?: FilesystemOutputs): Promise<pulumi.dynamic.ReadResult<FilesystemOutputs>> {
    if (!props) throw new Error(`Filesystem read(${id}) needs the resource's last state; import is not supported.`);
    const client = clientFor(props, this.stackConfig);
    const fs = findOwn(await client.listFilesystems(), id, props.fsName);
    if (!fs) return { id: "", props: {} as FilesystemOutputs };
    return { id: fs.id, props: outsFrom(props, fs, props.adopted) };
  }

  async update(id: string, olds: FilesystemOutputs, news: FilesystemInputs): Promise<{ outs: FilesystemOutputs }> {
    const client = clientFor(news, this.stackConfig);
    const fs = findOwn(await client.listFilesystems(), id, olds.fsName);
    if (!fs) throw new Error(`Filesystem ${id} ("${olds.fsName}") no longer exists in the Lambda account: run \`pulumi refresh\`, then \`pulumi up\`.`);
    // Keep the creation hints as recorded: they did not take part in the diff.
    return { outs: outsFrom({ ...news, regions: olds.regions, instanceType: olds.instanceType }, fs, olds.adopted) };
  }

  async delete(id: string, props: FilesystemOutputs): Promise<void> {
    const client = clientFor(props, this.stackConfig);
    const own = findOwn(await client.listFilesystems(), id, props.fsName);
    if (!own) return;
    // A filesystem frees up some time after its instance terminated.
    const deleted = await deleteWhileInUse(() => client.deleteFilesystem(own.id), {
      stillInUse: (elapsed) =>
        `Filesystem "${props.fsName}" (${own.id}) is still in use after ${elapsed}: terminate the instance that mounts it ` +
        `(Lambda dashboard > Instances), then re-run \`pulumi destroy\`. Raise LAMBDA_IN_USE_TIMEOUT_MS to wait longer.`,
      retrying: (elapsed) => `filesystem "${props.fsName}" still in use after ${elapsed}; retrying delete`,
    }, this.clock);
    if (deleted) return;
    throw new Error(`Filesystem "${props.fsName}" (${own.id}) could not be deleted: too many attempts.`);
  }
}

export interface FilesystemArgs extends LambdaCommonArgs {
  /** Filesystem name (letters first, then letters/digits/"-", max 60). */
  fsName: pulumi.Input<string>;
  /** Regions in preference order (used to pick the creation region only). */
  regions: pulumi.Input<pulumi.Input<string>[]>;
  /** Instance type whose capacity picks the creation region. */
  instanceType: pulumi.Input<string>;
}

/** A persistent Lambda filesystem (token `pulumi-nodejs:dynamic/lambda:Filesystem`). */
export class Filesystem extends pulumi.dynamic.Resource {
  declare readonly filesystemId: pulumi.Output<string>;
  declare readonly fsName: pulumi.Output<string>;
  declare readonly region: pulumi.Output<string>;
  declare readonly mountPoint: pulumi.Output<string>;
  declare readonly adopted: pulumi.Output<boolean>;

  constructor(name: string, args: FilesystemArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      withoutStackTraces(new FilesystemProvider()),
      name,
      { ...args, providerVersion: LAMBDA_PROVIDER_VERSION, filesystemId: undefined, region: undefined, mountPoint: undefined, adopted: undefined },
      opts,
      "lambda",
      "Filesystem",
    );
  }
}
