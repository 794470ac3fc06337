#!/usr/bin/env bash
# Builds the SGLang simulator image without any registry: the simulator bundled into one JS file (Qwen3 tokenizer
# included), this machine's `node` binary plus the libraries `ldd` lists, dash as /bin/sh, and a `python` shim so
# `docker run ... <image> python -m sglang.launch_server <flags>` runs unchanged. The rootfs tarball is
# a `curl` stand-in for the container healthcheck; `docker import`ed as hgx/sglang-sim:<content-hash> and tagged hgx/sglang-sim:local; an existing hash tag is reused.
# Prints the hash tag on stdout (progress goes to stderr).
#
# Env: SIM_IMAGE_REPO (default hgx/sglang-sim), SIM_BUILD_DIR (default ~/.cache/hgx-sglang-sim), NODE_BIN (default: node on PATH).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image_repo="${SIM_IMAGE_REPO:-hgx/sglang-sim}"
build_dir="${SIM_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hgx-sglang-sim}"
node_bin="$(readlink -f "${NODE_BIN:-$(command -v node || true)}")"
shell_bin="$(readlink -f "$(command -v dash || true)")"
esbuild="$repo_root/node_modules/.bin/esbuild"

log() { printf '[build-simulator-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -x "$node_bin" ]] || die "node binary not found; set NODE_BIN=/path/to/node"
[[ -x "$shell_bin" ]] || die "dash not found (it becomes the image's /bin/sh); install it: apt-get install -y dash"
[[ -x "$esbuild" ]] || die "esbuild missing at $esbuild; run npm ci in $repo_root"
command -v docker >/dev/null || die "docker CLI not found; install docker.io"
docker info >/dev/null 2>&1 || die "docker engine not reachable at ${DOCKER_HOST:-unix:///var/run/docker.sock} (DOCKER_HOST picks the engine); start it: (dockerd >/tmp/dockerd.log 2>&1 &)"
command -v ldd >/dev/null || die "ldd not found (package libc-bin)"

mkdir -p "$build_dir"
stage="$(mktemp -d "$build_dir/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

log "bundling the simulator with esbuild"
# From the repo root: esbuild writes source paths relative to the working directory into the bundle.
cd "$repo_root"
"$esbuild" test/fixtures/sglang-simulator/cli.ts --bundle --platform=node --target=node20 --format=cjs \
  --legal-comments=none --log-level=warning --outfile="$stage/sim.js"

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

# Shared libraries of node and dash, plus the dynamic loader, at the paths the binaries look for.
libs="$( { ldd "$node_bin"; ldd "$shell_bin"; } | awk '/=> \//{print $3; next} $1 ~ /^\//{print $1}' | sort -u)"
[[ -n "$libs" ]] || die "ldd listed no libraries for $node_bin"

hash="$(
  {
    # Contents only (never the paths they were read from), so every caller gets the same tag.
    for f in "$stage/sim.js" "$stage/python" "$stage/curl" "$stage/curl.js" "$node_bin" "$shell_bin" "${BASH_SOURCE[0]}"; do sha256sum <"$f"; done
    for lib in $libs; do printf '%s ' "$lib"; sha256sum <"$(readlink -f "$lib")"; done
  } | sha256sum | cut -c1-16
)"
tag="$image_repo:$hash"

if docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag already exists; skipping the rebuild"
else
  log "assembling the rootfs"
  rootfs="$stage/rootfs"
  mkdir -p "$rootfs"/{bin,usr/bin,usr/local/bin,opt/sglang-sim,etc,tmp,root/.cache/huggingface}
  chmod 1777 "$rootfs/tmp"
  cp "$node_bin" "$rootfs/usr/local/bin/node"
  cp "$shell_bin" "$rootfs/bin/dash"
  ln -s dash "$rootfs/bin/sh"
  cp "$stage/sim.js" "$rootfs/opt/sglang-sim/sim.js"
  cp "$stage/python" "$rootfs/usr/bin/python"
  cp "$stage/curl.js" "$rootfs/opt/sglang-sim/curl.js"
  cp "$stage/curl" "$rootfs/usr/bin/curl"
  ln -s python "$rootfs/usr/bin/python3"
  for lib in $libs; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\n' >"$rootfs/etc/group"
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

  log "importing $tag"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$stage/rootfs.tar" .
  docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV HF_HOME=/root/.cache/huggingface' \
    --change 'WORKDIR /root' \
    --change 'EXPOSE 30000' \
    --change 'CMD ["python", "-m", "sglang.launch_server", "--host", "0.0.0.0", "--port", "30000", "--model-path", "Qwen/Qwen3.5-397B-A17B"]' \
    "$stage/rootfs.tar" "$tag" >/dev/null
fi
docker tag "$tag" "$image_repo:local"
log "tagged $tag and $image_repo:local ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
echo "$tag"
