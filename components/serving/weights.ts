/**
 * Weights pre-download: the bash script a `remote.Command` (SSH host) or `local.Command`
 * (this machine) runs to fill the HF cache the server will mount.
 *
 * Critical path. On a cold host: host ready -> { SGLang image pull (~10-20 GB, minutes)
 * || weights download (~800 GB BF16, 10-45+ min) } -> container start -> load (5-15 min) ->
 * CUDA graphs -> healthy. The download dominates, so it must not wait for the image pull.
 * That rules out running `hf download` in the SGLang image (it has huggingface_hub, but using
 * it serialises the two longest steps). The downloader is a small Python image
 * (`python:3.12-slim`, ~50 MB) that installs `huggingface_hub[hf_xet]` at run time
 * (seconds); both are configurable.
 *
 * Secrets. The HF token arrives on the command's stdin (a Pulumi secret), is read by the
 * script with `read -r`, and is piped into the downloader container's stdin with `printf`
 * (a shell builtin): it never appears in a command line, in state, in `docker inspect` of the
 * downloader, or in logs.
 *
 * Warm cache. A marker file written after a successful `hf download` makes re-runs skip
 * without touching the network; without the marker `hf download` itself is idempotent
 * (it only fetches what is missing).
 */
import { CONTAINER_HF_HOME, type CacheMount, shellQuote } from "./containerSpec";
import { bashPrologueReadingSecret } from "../shell";

/** Default downloader image: small, has Python; pulled in seconds, in parallel with SGLang's. */
export const DEFAULT_DOWNLOADER_IMAGE = "python:3.12-slim";
/** Default setup step inside the downloader: the hub client with the fast xet transport. */
export const DEFAULT_DOWNLOADER_SETUP = `pip install --quiet --no-cache-dir --disable-pip-version-check --root-user-action=ignore -U "huggingface_hub[hf_xet]"`;

/** Options for `renderWeightsDownloadScript`. */
export interface WeightsDownloadOptions {
  /** Hugging Face repo id, e.g. `Qwen/Qwen3.5-397B-A17B`. */
  readonly model: string;
  /**
   * Revision (branch, tag or commit) to download.
   * @default "main"
   */
  readonly revision?: string;
  /** The SAME cache mount the server container uses. */
  readonly cacheMount: CacheMount;
  /** Name of the transient downloader container. */
  readonly containerName: string;
  /**
   * Image that runs `hf download`.
   * @default DEFAULT_DOWNLOADER_IMAGE
   */
  readonly downloaderImage?: string;
  /**
   * Shell step run in the downloader before `hf download` (empty string to skip, e.g. for an
   * image that already ships the `hf` CLI).
   * @default DEFAULT_DOWNLOADER_SETUP
   */
  readonly downloaderSetup?: string;
  /**
   * Seconds between progress lines (cache size).
   * @default 30
   */
  readonly progressIntervalSeconds?: number;
  /**
   * Upper bound for the whole download, in seconds.
   * @default 14400 (4 h: 800 GB at ~0.5 Gbit/s)
   */
  readonly timeoutSeconds?: number;
  /** Labels on the downloader container (so a reaper can find strays). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** `models--Org--Name`: the hub cache's directory for a repo. */
export function hubCacheDirName(model: string): string {
  return `models--${model.split("/").join("--")}`;
}

/** Marker written after a complete download of `revision`. */
export function completionMarkerName(revision: string): string {
  return `.hgx-download-complete-${revision.replace(/[^A-Za-z0-9._-]/g, "_")}`;
}

/** Pure validation of the download options. */
export function validateWeightsDownload(opts: WeightsDownloadOptions): string[] {
  const errors: string[] = [];
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(opts.model)) {
    errors.push(`weights model "${opts.model}" is not a Hugging Face repo id (org/name); pre-download only applies to hub models — set preDownload: false for a local path`);
  }
  if (opts.revision !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(opts.revision)) {
    errors.push(`weights revision "${opts.revision}" is malformed; use a branch, tag or commit sha`);
  }
  const interval = opts.progressIntervalSeconds ?? 30;
  if (!(Number.isInteger(interval) && interval >= 1)) errors.push(`progressIntervalSeconds ${interval} must be a positive integer`);
  const timeout = opts.timeoutSeconds ?? 14400;
  if (!(Number.isInteger(timeout) && timeout >= 60)) errors.push(`weights timeoutSeconds ${timeout} must be an integer >= 60`);
  return errors;
}

/**
 * The part that runs INSIDE the downloader container (POSIX sh, `$HF_HOME` set by docker run).
 * Reads the token from its own stdin; skips everything when the completion marker exists.
 */
export function renderWeightsInnerScript(model: string, revision: string, setup: string): string {
  const repoDir = `"$HF_HOME"/hub/${shellQuote(hubCacheDirName(model))}`;
  const marker = `${repoDir}/${shellQuote(completionMarkerName(revision))}`;
  return [
    "set -eu",
    `IFS= read -r HF_TOKEN || true`,
    `if [ -n "$HF_TOKEN" ]; then export HF_TOKEN; else unset HF_TOKEN; fi`,
    `if [ -f ${marker} ]; then echo "WEIGHTS skipped: cache already complete for ${model}@${revision}"; exit 0; fi`,
    ...(setup.trim() !== "" ? [setup] : []),
    `hf download ${shellQuote(model)} --revision ${shellQuote(revision)} >/dev/null`,
    `mkdir -p ${repoDir}`,
    `date -u +%Y-%m-%dT%H:%M:%SZ > ${marker}`,
    `echo "WEIGHTS downloaded: ${model}@${revision}"`,
  ].join("\n");
}

/**
 * The download script (bash). Reads the HF token (possibly empty) from its stdin.
 * stdout lines: `TIMELINE weights_start|weights_done <iso>`, `PROGRESS <iso> elapsed=<s>s cache=<size>`,
 * `WEIGHTS skipped|downloaded ...`.
 */
export function renderWeightsDownloadScript(opts: WeightsDownloadOptions): string {
  const errors = validateWeightsDownload(opts);
  if (errors.length > 0) throw new Error(errors.join("\n"));
  const revision = opts.revision ?? "main";
  const image = opts.downloaderImage ?? DEFAULT_DOWNLOADER_IMAGE;
  const setup = opts.downloaderSetup ?? DEFAULT_DOWNLOADER_SETUP;
  const interval = opts.progressIntervalSeconds ?? 30;
  const timeout = opts.timeoutSeconds ?? 14400;
  const repoDir = `"$HF_HOME"/hub/${shellQuote(hubCacheDirName(opts.model))}`;
  const mountSource = opts.cacheMount.kind === "volume" ? opts.cacheMount.volumeName : opts.cacheMount.hostPath;
  const labelArgs = Object.entries(opts.labels ?? {})
    .map(([k, v]) => `--label ${shellQuote(`${k}=${v}`)}`)
    .join(" ");
  const inner = renderWeightsInnerScript(opts.model, revision, setup);
  const du = `du -sh ${repoDir} 2>/dev/null | cut -f1`;

  // Every configured value enters the script once, single-quoted into a variable, and is used only
  // as "$VAR" from there: a cache path such as `/x/$(touch /tmp/p)` stays text.
  return `${bashPrologueReadingSecret("HF_TOKEN")}NAME=${shellQuote(opts.containerName)}
MODEL=${shellQuote(opts.model)}
REVISION=${shellQuote(revision)}
MOUNT=${shellQuote(`${mountSource}:${CONTAINER_HF_HOME}`)}
IMAGE=${shellQuote(image)}
START=$(date +%s)
echo "TIMELINE weights_start $(ts)"
echo "weights: $MODEL@$REVISION -> $MOUNT (downloader $IMAGE)"
docker rm -f "$NAME" >/dev/null 2>&1 || true
cleanup() {
  if [ -n "\${PROGRESS_PID:-}" ]; then kill "$PROGRESS_PID" 2>/dev/null || true; fi
  docker rm -f "$NAME" >/dev/null 2>&1 || true
}
trap cleanup EXIT
(
  # sleep must not hold our stdout open, or the caller waits for it after we exit.
  while sleep ${interval} >/dev/null 2>&1 </dev/null; do
    size=$(docker exec "$NAME" sh -c ${shellQuote(du)} 2>/dev/null)
    echo "PROGRESS $(ts) elapsed=$(( $(date +%s) - START ))s cache=\${size:-0}"
  done
) &
PROGRESS_PID=$!
printf '%s\\n' "$HF_TOKEN" | timeout ${timeout} docker run -i --rm --name "$NAME" ${labelArgs} \\
  -e HF_HOME=${CONTAINER_HF_HOME} -e HF_XET_HIGH_PERFORMANCE=1 -e HF_HUB_DISABLE_PROGRESS_BARS=1 \\
  -v "$MOUNT" "$IMAGE" sh -c ${shellQuote(inner)}
rc=$?
HF_TOKEN=""
if [ "$rc" -eq 124 ]; then
  echo "weights download of $MODEL exceeded ${timeout}s; raise the weights timeout or check the host's bandwidth" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  echo "weights download of $MODEL failed (exit $rc); see the output above (a 401/403 means the HF token is missing or lacks access)" >&2
  exit 1
fi
echo "TIMELINE weights_done $(ts)"
`;
}
