import { describe, expect, it } from "vitest";
import {
  COMPILE_CACHE_KEY_ENV,
  COMPILE_CACHE_SOURCES,
  CONTAINER_COMPILE_CACHE_ROOT,
  compileCacheKey,
  planCompileCache,
  validateCompileCacheInput,
} from "../../../components/serving/compileCache";

const DIGEST = `sha256:${"3f9ac1e07b2d4a55".padEnd(64, "0")}`;
const OTHER_BUILD = `sha256:${"a".repeat(64)}`;
const INPUT = { hostRoot: "/lambda/nfs/hgx-hf-cache/compile-cache/", imageDigest: DIGEST, gpuModel: "NVIDIA B200" };

describe("planCompileCache", () => {
  it("keys the directory by image digest and GPU model, mounts the root and points every cache variable inside the key", () => {
    const plan = planCompileCache(INPUT);
    expect(plan.key).toBe("3f9ac1e07b2d4a55-nvidia-b200");
    expect(plan.mount).toEqual({ kind: "bind", hostPath: "/lambda/nfs/hgx-hf-cache/compile-cache", containerPath: CONTAINER_COMPILE_CACHE_ROOT });
    expect(plan.hostDir).toBe("/lambda/nfs/hgx-hf-cache/compile-cache/3f9ac1e07b2d4a55-nvidia-b200");
    expect(plan.hostMarker).toBe(`${plan.hostDir}/.hgx-compile-complete`);
    expect(plan.env).toEqual({
      [COMPILE_CACHE_KEY_ENV]: plan.key,
      SGLANG_CACHE_DIR: `${CONTAINER_COMPILE_CACHE_ROOT}/${plan.key}/sglang`,
      SGLANG_DG_CACHE_DIR: `${CONTAINER_COMPILE_CACHE_ROOT}/${plan.key}/deep_gemm`,
      TVM_FFI_CACHE_DIR: `${CONTAINER_COMPILE_CACHE_ROOT}/${plan.key}/tvm-ffi`,
      TORCHINDUCTOR_CACHE_DIR: `${CONTAINER_COMPILE_CACHE_ROOT}/${plan.key}/inductor`,
      TRITON_CACHE_DIR: `${CONTAINER_COMPILE_CACHE_ROOT}/${plan.key}/triton`,
    });
  });

  it("sets exactly the variables the cited sources name (no invented cache variable)", () => {
    const cited = new Set(COMPILE_CACHE_SOURCES.map((s) => s.variable));
    expect(Object.keys(planCompileCache(INPUT).env).filter((v) => v !== COMPILE_CACHE_KEY_ENV).sort()).toEqual([...cited].sort());
  });

  it("another build or another GPU model gets another directory; the same pair always the same one", () => {
    const keys = [
      compileCacheKey(DIGEST, "NVIDIA B200"),
      compileCacheKey(OTHER_BUILD, "NVIDIA B200"),
      compileCacheKey(DIGEST, "NVIDIA H100 80GB HBM3"),
    ];
    expect(new Set(keys).size).toBe(3);
    expect(compileCacheKey(DIGEST, "NVIDIA B200")).toBe(keys[0]);
    expect(keys[2]).toBe("3f9ac1e07b2d4a55-nvidia-h100-80gb-hbm3");
  });

  it("on a Docker volume: the same keyed variables, the volume mounted at the root, the marker only in the container", () => {
    const plan = planCompileCache({ volumeName: "hf-cache-compile", imageDigest: DIGEST, gpuModel: "NVIDIA B200" });
    expect(plan.mount).toEqual({ kind: "volume", volumeName: "hf-cache-compile", containerPath: CONTAINER_COMPILE_CACHE_ROOT });
    expect(plan.env).toEqual(planCompileCache(INPUT).env);
    expect(plan.hostMarker).toBeUndefined();
    expect(plan.containerMarker).toBe(`${CONTAINER_COMPILE_CACHE_ROOT}/3f9ac1e07b2d4a55-nvidia-b200/.hgx-compile-complete`);
    expect(validateCompileCacheInput({ volumeName: "bad name", imageDigest: DIGEST, gpuModel: "x" })).toEqual([expect.stringMatching(/"bad name" is not a Docker volume name/)]);
    expect(validateCompileCacheInput({ ...INPUT, volumeName: "v" })[0]).toMatch(/exactly one of hostRoot .* and volumeName/);
    expect(validateCompileCacheInput({ imageDigest: DIGEST, gpuModel: "x" })[0]).toMatch(/exactly one of/);
  });

  it("a root of / still gives absolute paths", () => {
    expect(planCompileCache({ ...INPUT, hostRoot: "/" }).hostDir).toBe("/3f9ac1e07b2d4a55-nvidia-b200");
  });

  it("refuses a tag for a digest, a relative or colon path and a GPU name with shell characters, naming the value and the fix", () => {
    const problems = validateCompileCacheInput({ hostRoot: "cache:/x", imageDigest: "lmsysorg/sglang:v0.5.14", gpuModel: "B200; rm -rf /" });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('"cache:/x"');
    expect(problems[1]).toMatch(/lmsysorg\/sglang:v0\.5\.14.*RepoDigest/);
    expect(problems[2]).toMatch(/B200; rm -rf \/.*nvidia-smi/);
    expect(() => planCompileCache({ ...INPUT, imageDigest: `sha256:${"A".repeat(64)}` })).toThrow(/sha256:<64 lowercase hex>/);
    expect(validateCompileCacheInput(INPUT)).toEqual([]);
  });
});
