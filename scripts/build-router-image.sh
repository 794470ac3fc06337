#!/usr/bin/env bash
# Builds the SGLang router image without any image registry (through scripts/build-rootfs-image.sh): this
# machine's CPython 3.11 (binary, its shared libraries, the standard library without tests/tk/idle) plus
# site-packages holding the REAL `sglang-router` wheel from PyPI and its dependencies, pinned by version and
# sha256 in scripts/router-image/requirements.txt. Wheels are downloaded once into the build directory and
# installed from there (`--no-index`), so a rebuild needs no network. `docker import`ed as
# hgx/sglang-router:<content-hash> and tagged hgx/sglang-router:local; an existing hash tag is reused.
# The image runs `python -m sglang_router.launch_router ...` exactly as the upstream router image does.
# Prints the hash tag on stdout (progress goes to stderr).
#
# Env: ROUTER_IMAGE_REPO (default hgx/sglang-router), ROUTER_BUILD_DIR (default ~/.cache/hgx-sglang-router),
#      PYTHON_BIN (default: python3.11 on PATH, resolved through pyenv shims).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image_repo="${ROUTER_IMAGE_REPO:-hgx/sglang-router}"
build_dir="${ROUTER_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hgx-sglang-router}"
requirements="$repo_root/scripts/router-image/requirements.txt"

log() { printf '[build-router-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

python_cmd="${PYTHON_BIN:-python3.11}"
command -v "$python_cmd" >/dev/null || die "$python_cmd not found; install CPython 3.11 or set PYTHON_BIN"
# pyenv shims are scripts: ask the interpreter for its real executable and prefix.
read -r python_bin python_prefix python_version < <("$python_cmd" -c \
  'import sys; print(sys.executable, sys.base_prefix, "%d.%d" % sys.version_info[:2])')
python_bin="$(readlink -f "$python_bin")"
[[ "$python_version" == 3.11 ]] || die "$python_cmd is CPython $python_version; the pinned wheels are for 3.11"
stdlib="$python_prefix/lib/python$python_version"
[[ -f "$stdlib/os.py" ]] || die "standard library not found at $stdlib"

mkdir -p "$build_dir/wheels"
stage="$(mktemp -d "$build_dir/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# Wheels: fetched once (PyPI through pip, hashes checked), then installed offline into a fresh site-packages.
if ! "$python_cmd" -m pip install --quiet --no-deps --only-binary=:all: --require-hashes --no-index \
  --find-links "$build_dir/wheels" --target "$stage/site" -r "$requirements" 2>/dev/null; then
  log "downloading the pinned wheels (sglang-router and its dependencies) from PyPI into $build_dir/wheels"
  "$python_cmd" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    -d "$build_dir/wheels" -r "$requirements" >&2
  rm -rf "$stage/site"
  "$python_cmd" -m pip install --quiet --no-deps --only-binary=:all: --require-hashes --no-index \
    --find-links "$build_dir/wheels" --target "$stage/site" -r "$requirements" >&2
fi
# Installed console scripts point at the build interpreter's path; the image runs `python -m` instead.
rm -rf "$stage/site/bin"
find "$stage/site" -name '__pycache__' -type d -prune -exec rm -rf {} +

# The standard library minus what a headless router never imports (and every byte-code cache, so the
# tarball and its hash depend on sources only).
mkdir -p "$stage/stdlib"
tar -C "$stdlib" --exclude=./test --exclude=./idlelib --exclude=./tkinter --exclude=./turtledemo \
  --exclude=./ensurepip --exclude=./lib2to3 --exclude=./site-packages --exclude='./config-*' \
  --exclude='__pycache__' --exclude='./lib-dynload/_tkinter*' -cf - . | tar -C "$stage/stdlib" -xf -

tag="$(
  ROOTFS_BUILD_DIR="$build_dir" bash "$repo_root/scripts/build-rootfs-image.sh" --repo "$image_repo" \
    --binary "$python_bin=/usr/local/bin/python$python_version" \
    --symlink "python$python_version=/usr/local/bin/python3" --symlink "python$python_version=/usr/local/bin/python" \
    --tree "$stage/stdlib=/usr/local/lib/python$python_version" \
    --tree "$stage/site=/usr/local/lib/python$python_version/site-packages" \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
    --change 'WORKDIR /root' \
    --change 'EXPOSE 30000' \
    --change 'CMD ["python", "-m", "sglang_router.launch_router", "--host", "0.0.0.0", "--port", "30000"]' \
    --tag "$image_repo:local"
)"
echo "$tag"
