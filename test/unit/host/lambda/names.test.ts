import { describe, expect, it } from "vitest";
import { instanceTypeGpus, isRegionCode, LAMBDA_REGIONS } from "../../../../components/host/lambda/names";
import { gpuCountOfInstanceType, parseStackConfig } from "../../../../components/config";
import { gpuExpectationFromInstanceType } from "../../../../components/host/hgxHost";
import { resolveLambdaMachineArgs } from "../../../../components/host/lambdaMachine";

const runtime = { organization: "org", project: "hgx-inference", stack: "dev" };

/** Whether the machine component takes an instance type name (the one problem it would report otherwise). */
function machineTakes(instanceType: string): boolean {
  try {
    resolveLambdaMachineArgs("m", { regions: ["us-east-1"], instanceType }, runtime);
    return true;
  } catch (e) {
    return !String(e).includes("instanceType:");
  }
}

describe("Lambda instance type names", () => {
  it("read the GPU count and model from gpu_<N>x_<model>[_<variant>...]", () => {
    expect(instanceTypeGpus("gpu_8x_b200_sxm6")).toEqual({ count: 8, model: "b200" });
    expect(instanceTypeGpus("gpu_8x_a100_80gb_sxm4")).toEqual({ count: 8, model: "a100" });
    expect(instanceTypeGpus("gpu_1x_gh200")).toEqual({ count: 1, model: "gh200" });
  });

  // The config, the machine component and the host's GPU expectation once had a pattern each,
  // and the first two let empty parts through ("gpu_8x__"); one definition now decides for all.
  it.each(["gpu_8x_b200_sxm6", "gpu_1x_gh200", "cpu_4x_general", "gpu_8x__", "gpu_8x_b200_", "gpu_x_b200", "GPU_8X_B200"])(
    "%s is judged the same by config, machine and host",
    (name) => {
      const parsed = instanceTypeGpus(name);
      expect(gpuCountOfInstanceType(name)).toBe(parsed?.count);
      expect(gpuExpectationFromInstanceType(name)?.count).toBe(parsed?.count);
      expect(machineTakes(name)).toBe(parsed !== undefined);
    },
  );
});

describe("Lambda regions", () => {
  it("are one list that both the config and the providers check against", () => {
    for (const r of LAMBDA_REGIONS) expect(isRegionCode(r)).toBe(true);
    expect(isRegionCode("mars-north-1")).toBe(false);
    expect(isRegionCode("us-east-1 ")).toBe(false);
  });

  it("a region the provider refuses, the config refuses too", () => {
    expect(() => parseStackConfig({ hostMode: "lambda", lambdaRegions: '["mars-north-1"]' }, { stack: "dev" })).toThrow(/mars-north-1/);
  });
});
