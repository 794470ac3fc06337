/**
 * Warm redeploys skip what was already compiled (issue #22 item 2): the on-disk caches a SGLang start fills live on
 * the persistent filesystem/volume beside the HF cache, in a directory keyed by image digest and GPU model, so a
 * different build or GPU never reads a stale cache.
 *
 * The caches and the variables that place them, from the SGLang 0.5.14 wheel (`COMPILE_CACHE_SOURCES` cites each;
 * test/unit/conformance/releaseTexts.test.ts checks the citations against the cached wheel):
 * - `SGLANG_CACHE_DIR` (sglang/srt/environ.py:894, default ~/.cache/sglang) holds the FlashInfer autotune results
 *   (srt/model_executor/runner/base_runner.py:390-396, `<dir>/flashinfer/autotune/<version>/<arch>/<key>/rank_*.json`),
 *   the piecewise torch.compile cache (srt/compilation/backend.py:405-411, `<dir>/torch_compile_cache/<hash>/...`),
 *   the custom all-reduce P2P probe results (srt/distributed/device_communicators/custom_all_reduce_utils.py:266) and
 *   the FA3 kernel lockfile (jit_kernel/flash_attention_v3.py:42).
 * - `SGLANG_DG_CACHE_DIR` (srt/environ.py:557, default ~/.cache/deep_gemm): SGLang copies it into DeepGEMM's own
 *   `DG_JIT_CACHE_DIR` at import (srt/layers/deep_gemm_wrapper/compile_utils.py:38-40), overriding any value of that.
 * - `TVM_FFI_CACHE_DIR` (jit_kernel/utils.py:280, default ~/.cache/tvm-ffi): sgl-kernel's JIT-built modules, each
 *   directory already keyed by source hash, CUDA arch and tvm-ffi version (jit_kernel/utils.py:199-203).
 * - `TORCHINDUCTOR_CACHE_DIR` and `TRITON_CACHE_DIR`: SGLang points both inside its torch.compile cache when it
 *   compiles (srt/compilation/compiler_interface.py:196-201); set here too so Triton kernels JIT-compiled outside
 *   torch.compile (SGLang's own Triton kernels) land on the volume instead of the container's throw-away layer.
 * FlashInfer's own JIT directory is named only inside the flashinfer package (not in SGLang's source), so it is not
 * placed here.
 *
 * SGLang prints no cache hit/miss line; the marker file (written once the server was ready) tells the next start
 * whether it found this key's caches filled.
 */
import type { ReleaseSourceCitation } from "./releaseSource";
import { GPU_MODEL_PATTERN } from "../projectFacts";

/** Where the cache root is mounted inside the server container. */
export const CONTAINER_COMPILE_CACHE_ROOT = "/var/cache/hgx-compile";
/** The project's own variable carrying the key (the simulator's compile phase reads it, see its bootSequence.ts). */
export const COMPILE_CACHE_KEY_ENV = "HGX_COMPILE_CACHE_KEY";
/** Written in the keyed directory after the first start that reached ready with these caches. */
export const COMPILE_CACHE_MARKER = ".hgx-compile-complete";

/** A cited occurrence of a cache variable in the pinned wheel. */
export interface CompileCacheSource extends ReleaseSourceCitation {
  readonly variable: string;
}

/** The variables' sources in SGLang 0.5.14. */
export const COMPILE_CACHE_SOURCES: readonly CompileCacheSource[] = [
  { variable: "SGLANG_CACHE_DIR", literal: 'SGLANG_CACHE_DIR = EnvStr(os.path.expanduser("~/.cache/sglang"))', file: "sglang/srt/environ.py", line: 894 },
  { variable: "SGLANG_DG_CACHE_DIR", literal: 'SGLANG_DG_CACHE_DIR = EnvStr(os.path.expanduser("~/.cache/deep_gemm"))', file: "sglang/srt/environ.py", line: 557 },
  { variable: "SGLANG_DG_CACHE_DIR", literal: '"SGLANG_DG_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "deep_gemm")', file: "sglang/srt/layers/deep_gemm_wrapper/compile_utils.py", line: 39 },
  { variable: "TVM_FFI_CACHE_DIR", literal: 'os.environ.get("TVM_FFI_CACHE_DIR", "~/.cache/tvm-ffi")', file: "sglang/jit_kernel/utils.py", line: 280 },
  { variable: "TORCHINDUCTOR_CACHE_DIR", literal: 'os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache', file: "sglang/srt/compilation/compiler_interface.py", line: 198 },
  { variable: "TRITON_CACHE_DIR", literal: 'os.environ["TRITON_CACHE_DIR"] = triton_cache', file: "sglang/srt/compilation/compiler_interface.py", line: 201 },
];

/** Subdirectory of the keyed directory for each variable. */
const SUBDIRS: Readonly<Record<string, string>> = {
  SGLANG_CACHE_DIR: "sglang",
  SGLANG_DG_CACHE_DIR: "deep_gemm",
  TVM_FFI_CACHE_DIR: "tvm-ffi",
  TORCHINDUCTOR_CACHE_DIR: "inductor",
  TRITON_CACHE_DIR: "triton",
};

export interface CompileCacheInput {
  /**
   * Cache root as the host sees it: a directory on the persistent filesystem (beside `<mount>/huggingface`).
   * Absolute; no `:` (Docker's -v syntax) nor control characters. Exactly one of `hostRoot` and `volumeName`.
   * @example "/lambda/nfs/hgx-hf-cache/compile-cache"
   */
  readonly hostRoot?: string;
  /** A named Docker volume holding the caches instead (the local stack, a host without a persistent filesystem). */
  readonly volumeName?: string;
  /** The server image's content digest, `sha256:<64 hex>` (the pinned image's RepoDigest, not its tag). */
  readonly imageDigest: string;
  /** The GPU model the host reports, e.g. "NVIDIA B200" (GPU_MODEL_PATTERN). */
  readonly gpuModel: string;
}

/** What the container needs: the mount, the variables, and where the marker lives. */
export interface CompileCachePlan {
  /** `<digest's first 16 hex>-<gpu model slug>`, e.g. `3f9ac1e07b2d4a55-nvidia-b200`. */
  readonly key: string;
  /** The whole root, bound or mounted at CONTAINER_COMPILE_CACHE_ROOT (keys side by side: no sub-path mount needed). */
  readonly mount:
    | { readonly kind: "bind"; readonly hostPath: string; readonly containerPath: string }
    | { readonly kind: "volume"; readonly volumeName: string; readonly containerPath: string };
  /** The keyed directory on the host (bind only: a volume's directory is Docker's). */
  readonly hostDir?: string;
  /** The keyed directory in the container. */
  readonly containerDir: string;
  /** Container environment: one directory per cache under the keyed directory, plus the key itself. */
  readonly env: Readonly<Record<string, string>>;
  /** The marker's path on the host, bind only (present = an earlier start with this key reached ready). */
  readonly hostMarker?: string;
  /** The marker's path in the container (for a check run inside it, e.g. on a volume). */
  readonly containerMarker: string;
}

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** Problems with the input, each naming the setting, the value and the fix (empty = valid). */
export function validateCompileCacheInput(input: CompileCacheInput): string[] {
  const problems: string[] = [];
  if ((input.hostRoot === undefined) === (input.volumeName === undefined)) {
    problems.push("give the compile cache exactly one of hostRoot (a directory on the persistent filesystem) and volumeName (a Docker volume)");
  }
  if (input.volumeName !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(input.volumeName)) {
    problems.push(`compile cache volume ${JSON.stringify(input.volumeName)} is not a Docker volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+); e.g. hf-cache-compile`);
  }
  if (input.hostRoot !== undefined && (!input.hostRoot.startsWith("/") || /[:\x00-\x1f\x7f]/.test(input.hostRoot))) {
    problems.push(`compile cache root ${JSON.stringify(input.hostRoot)} must be an absolute host path without ':' or control characters; e.g. /lambda/nfs/hgx-hf-cache/compile-cache`);
  }
  if (!DIGEST.test(input.imageDigest)) {
    problems.push(`image digest ${JSON.stringify(input.imageDigest)} is not sha256:<64 lowercase hex>; pass the pulled image's RepoDigest (docker image inspect --format '{{index .RepoDigests 0}}'), not its tag`);
  }
  if (!GPU_MODEL_PATTERN.test(input.gpuModel)) {
    problems.push(`GPU model ${JSON.stringify(input.gpuModel)} is not a GPU model name (letters, digits, space, . _ -, at most 64); pass what nvidia-smi --query-gpu=name reports, e.g. "NVIDIA B200"`);
  }
  return problems;
}

/** The directory name for a digest + GPU model: a different build or GPU gets a different directory. */
export function compileCacheKey(imageDigest: string, gpuModel: string): string {
  const hex = DIGEST.exec(imageDigest)?.[1];
  if (hex === undefined) throw new Error(`image digest ${JSON.stringify(imageDigest)} is not sha256:<64 lowercase hex>; pass the pulled image's RepoDigest`);
  const slug = gpuModel.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return `${hex.slice(0, 16)}-${slug || "gpu"}`;
}

/** Pure: the mount, variables and marker for a cache root, image digest and GPU model. Throws on bad input. */
export function planCompileCache(input: CompileCacheInput): CompileCachePlan {
  const problems = validateCompileCacheInput(input);
  if (problems.length > 0) throw new Error(problems.join("\n"));
  const key = compileCacheKey(input.imageDigest, input.gpuModel);
  const containerDir = `${CONTAINER_COMPILE_CACHE_ROOT}/${key}`;
  const env: Record<string, string> = { [COMPILE_CACHE_KEY_ENV]: key };
  for (const [variable, sub] of Object.entries(SUBDIRS)) env[variable] = `${containerDir}/${sub}`;
  const common = { key, containerDir, env, containerMarker: `${containerDir}/${COMPILE_CACHE_MARKER}` };
  if (input.volumeName !== undefined) return { ...common, mount: { kind: "volume", volumeName: input.volumeName, containerPath: CONTAINER_COMPILE_CACHE_ROOT } };
  const root = input.hostRoot!.replace(/\/+$/, "") || "/";
  const hostDir = `${root === "/" ? "" : root}/${key}`;
  return { ...common, mount: { kind: "bind", hostPath: root, containerPath: CONTAINER_COMPILE_CACHE_ROOT }, hostDir, hostMarker: `${hostDir}/${COMPILE_CACHE_MARKER}` };
}
