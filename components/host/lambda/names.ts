/**
 * Lambda Cloud's names for regions and instance types, defined once: the config, the machine
 * component, the instance provider's check and the host's GPU expectation all read them here.
 */

/** Regions Lambda Cloud's public API knows (`PublicRegionCode` in the vendor's OpenAPI 1.8.3). */
export const LAMBDA_REGIONS = [
  "us-east-1", "us-east-2", "us-east-3", "us-west-1", "us-west-2", "us-west-3", "us-south-1", "us-south-2",
  "us-south-3", "us-midwest-1", "us-midwest-2", "europe-central-1", "asia-south-1", "asia-northeast-1",
  "asia-northeast-2", "australia-east-1", "me-west-1",
] as const;

/** Whether `text` is one of Lambda's region codes (`us-east-1`, `europe-central-1`). */
export function isRegionCode(text: string): boolean {
  return (LAMBDA_REGIONS as readonly string[]).includes(text);
}

/** `FilesystemCreateRequest.name` in Lambda's OpenAPI 1.8.3: `^[a-zA-Z]+[0-9a-zA-Z-]*$`, 1-60 characters. */
export const LAMBDA_FILESYSTEM_NAME = /^(?=.{1,60}$)[a-zA-Z]+[0-9a-zA-Z-]*$/;

/** `gpu_<N>x_<model>[_<variant>...]`: `gpu_8x_b200_sxm6`, `gpu_1x_gh200`, `gpu_8x_a100_80gb_sxm4`. */
export const LAMBDA_INSTANCE_TYPE = /^gpu_(\d+)x_([a-z0-9]+)(?:_[a-z0-9]+)*$/;

/** What an instance type name says about its GPUs (the model as the name spells it, lower case). */
export interface InstanceTypeGpus {
  readonly count: number;
  readonly model: string;
}

/** The GPUs an instance type name encodes, or undefined when it is not a Lambda instance type name. */
export function instanceTypeGpus(instanceType: string): InstanceTypeGpus | undefined {
  const m = LAMBDA_INSTANCE_TYPE.exec(instanceType);
  return m ? { count: Number(m[1]), model: m[2] } : undefined;
}
