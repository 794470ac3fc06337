#!/usr/bin/env bash
# Builds the SGLang simulator image without any registry (through scripts/build-rootfs-image.sh): the simulator
# bundled into one JS file (Qwen3 tokenizer included), this machine's `node` binary plus the libraries `ldd` lists,
# dash as /bin/sh, a `python` shim so `docker run ... <image> python -m sglang.launch_server <flags>` runs
# unchanged, and a `curl` stand-in for the container healthcheck. `docker import`ed as
# hgx/sglang-sim:<content-hash> and tagged hgx/sglang-sim:local; an existing hash tag is reused.
# Prints the hash tag on stdout (progress goes to stderr).
#
# Env: SIM_IMAGE_REPO (default hgx/sglang-sim), SIM_BUILD_DIR (default ~/.cache/hgx-sglang-sim), NODE_BIN (default: node on PATH).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image_repo="${SIM_IMAGE_REPO:-hgx/sglang-sim}"
build_dir="${SIM_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hgx-sglang-sim}"

mkdir -p "$build_dir"
stage="$(mktemp -d "$build_dir/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# `python -m sglang.launch_server ARGS` -> the simulator with ARGS; anything else is refused loudly.
cat >"$stage/python" <<'SHIM'
#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "sglang.launch_server" ]; then
  shift 2
  exec /usr/local/bin/node /opt/sglang-sim/sim.js "$@"
fi
echo "python (sglang simulator shim): only 'python -m sglang.launch_server ...' is supported, got: $*" >&2
exit 2
SHIM
chmod 755 "$stage/python"

# The container healthcheck the serving layer renders probes /health with `curl -fsS -m N -o F URL`
# (real SGLang images ship curl); this image has no curl, so a node stand-in answers that form.
cat >"$stage/curl.js" <<'CURL'
const http = require("node:http");
const args = process.argv.slice(2);
let url, out, timeoutS = 30, fail = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "-o") out = args[++i];
  else if (a === "-m" || a === "--max-time") timeoutS = Number(args[++i]);
  else if (a === "-H") args[++i];
  else if (a.startsWith("-")) { if (a.replace(/^-+/, "").includes("f")) fail = true; }
  else url = a;
}
if (!url) { process.stderr.write("curl (simulator stand-in): no URL\n"); process.exit(2); }
const req = http.get(url, { timeout: timeoutS * 1000 }, (res) => {
  const chunks = [];
  res.on("data", (c) => chunks.push(c));
  res.on("end", () => {
    const body = Buffer.concat(chunks);
    if (out && out !== "/dev/null") require("node:fs").writeFileSync(out, body);
    else if (!out) process.stdout.write(body);
    process.exit(fail && res.statusCode >= 400 ? 22 : 0);
  });
});
req.on("timeout", () => { req.destroy(); process.exit(28); });
req.on("error", () => process.exit(7));
CURL
printf '#!/bin/sh\nexec /usr/local/bin/node /opt/sglang-sim/curl.js "$@"\n' >"$stage/curl"
chmod 755 "$stage/curl"

tag="$(
  ROOTFS_BUILD_DIR="$build_dir" bash "$repo_root/scripts/build-rootfs-image.sh" --repo "$image_repo" \
    --bundle test/fixtures/sglang-simulator/cli.ts=/opt/sglang-sim/sim.js \
    --file "$stage/python=/usr/bin/python" --symlink python=/usr/bin/python3 \
    --file "$stage/curl.js=/opt/sglang-sim/curl.js:644" --file "$stage/curl=/usr/bin/curl" \
    --dir /root/.cache/huggingface \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV HF_HOME=/root/.cache/huggingface' \
    --change 'WORKDIR /root' \
    --change 'EXPOSE 30000' \
    --change 'CMD ["python", "-m", "sglang.launch_server", "--host", "0.0.0.0", "--port", "30000", "--model-path", "Qwen/Qwen3.5-397B-A17B"]' \
    --tag "$image_repo:local"
)"
echo "$tag"
