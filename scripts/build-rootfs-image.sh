#!/usr/bin/env bash
# Assembles a Docker image from files on this machine, without any registry: dash as /bin/sh, the host
# executables asked for together with the shared libraries `ldd` lists for them, optionally this machine's `node`
# binary with TypeScript entry points bundled by esbuild, plus given files. The rootfs is tarred
# deterministically, `docker import`ed as REPO:<hash of that tarball and the --change lines>, and an existing
# hash tag is reused (no import). Used by build-simulator-image.sh and the test stand-in images
# (test/fixtures/stand-in-images). Prints the hash tag on stdout; progress goes to stderr.
#
#   build-rootfs-image.sh --repo REPO [--bundle ENTRY.ts=/IMAGE/PATH.js]... [--node] [--binary NAME|PATH[=/IMAGE/PATH]]...
#       [--file SRC=/IMAGE/PATH[:MODE]]... [--tree SRCDIR=/IMAGE/PATH]... [--symlink TARGET=/IMAGE/PATH]...
#       [--dir /IMAGE/PATH[:MODE]]...
#       [--change 'DOCKERFILE LINE']... [--tag EXTRA-TAG]...
#
#   --bundle   esbuild bundle (CommonJS, node20) of a repository-relative entry; implies --node
#   --node     this machine's node binary at /usr/local/bin/node (NODE_BIN overrides which)
#   --binary   a host executable (looked up on PATH when not a path) at /usr/bin/<name> unless given
#   --file     a file (repository-relative or absolute), mode 755 unless given
#   --tree     a directory copied recursively (links dereferenced); its shared objects (*.so*) join the ldd pass
#   --change   passed to `docker import --change` (ENV, CMD, WORKDIR, ...); part of the hash
#   --tag      also tag the image under this name
#
# Env: ROOTFS_BUILD_DIR (staging, default ~/.cache/hgx-rootfs-images), NODE_BIN. DOCKER_HOST is honoured (docker CLI).
set -euo pipefail
umask 022

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${ROOTFS_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hgx-rootfs-images}"
esbuild="$repo_root/node_modules/.bin/esbuild"

log() { printf '[build-rootfs-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

repo=""
want_node=0
bundles=() binaries=() files=() trees=() symlinks=() dirs=() changes=() extra_tags=()
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 || "$1" == --node ]] || die "$1 needs a value"
  case "$1" in
    --repo) repo="$2"; shift 2 ;;
    --bundle) bundles+=("$2"); want_node=1; shift 2 ;;
    --node) want_node=1; shift ;;
    --binary) binaries+=("$2"); shift 2 ;;
    --file) files+=("$2"); shift 2 ;;
    --tree) trees+=("$2"); shift 2 ;;
    --symlink) symlinks+=("$2"); shift 2 ;;
    --dir) dirs+=("$2"); shift 2 ;;
    --change) changes+=("$2"); shift 2 ;;
    --tag) extra_tags+=("$2"); shift 2 ;;
    *) die "unknown argument $1 (see the header of ${BASH_SOURCE[0]})" ;;
  esac
done
[[ "$repo" =~ ^[a-z0-9][a-z0-9._/-]*$ ]] || die "--repo must be a lower-case image repository, got '${repo}'"

shell_bin="$(readlink -f "$(command -v dash || true)")"
[[ -x "$shell_bin" ]] || die "dash not found (it becomes the image's /bin/sh); install it: apt-get install -y dash"
command -v docker >/dev/null || die "docker CLI not found; install docker.io"
docker info >/dev/null 2>&1 || die "docker engine not reachable${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST}; start it: (dockerd >/tmp/dockerd.log 2>&1 &)"
command -v ldd >/dev/null || die "ldd not found (package libc-bin)"

mkdir -p "$build_dir"
stage="$(mktemp -d "$build_dir/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
rootfs="$stage/rootfs"
mkdir -p "$rootfs"/{bin,usr/bin,usr/local/bin,etc,tmp,root}
chmod 1777 "$rootfs/tmp"

# place SRC DEST MODE: copy a file into the rootfs (dereferencing links), creating parent directories.
place() {
  [[ "$2" == /* ]] || die "image path must be absolute, got '$2'"
  mkdir -p "$rootfs$(dirname "$2")"
  cp -L "$1" "$rootfs$2"
  chmod "$3" "$rootfs$2"
}

elf_bins=("$shell_bin")
place "$shell_bin" /bin/dash 755
ln -s dash "$rootfs/bin/sh"

if [[ "$want_node" == 1 ]]; then
  node_bin="$(readlink -f "${NODE_BIN:-$(command -v node || true)}")"
  [[ -x "$node_bin" ]] || die "node binary not found; set NODE_BIN=/path/to/node"
  place "$node_bin" /usr/local/bin/node 755
  elf_bins+=("$node_bin")
fi

for spec in ${bundles[@]+"${bundles[@]}"}; do
  entry="${spec%%=*}" dest="${spec#*=}"
  [[ "$entry" != "$spec" ]] || die "--bundle wants ENTRY.ts=/image/path.js, got '$spec'"
  [[ -x "$esbuild" ]] || die "esbuild missing at $esbuild; run npm ci in $repo_root"
  [[ -f "$repo_root/$entry" ]] || die "--bundle entry $entry not found under $repo_root"
  log "bundling $entry with esbuild"
  mkdir -p "$rootfs$(dirname "$dest")"
  # From the repo root: esbuild writes source paths relative to the working directory into the bundle.
  (cd "$repo_root" && "$esbuild" "$entry" --bundle --platform=node --target=node20 --format=cjs \
    --legal-comments=none --log-level=warning --outfile="$rootfs$dest")
done

for spec in ${binaries[@]+"${binaries[@]}"}; do
  name="${spec%%=*}" dest="${spec#*=}"
  [[ "$name" != "$spec" ]] || dest="/usr/bin/$(basename "$name")"
  src="$(readlink -f "$(command -v "$name" || true)")"
  [[ -x "$src" ]] || die "--binary $name: not found on PATH"
  place "$src" "$dest" 755
  elf_bins+=("$src")
done

for spec in ${files[@]+"${files[@]}"}; do
  src="${spec%%=*}" rest="${spec#*=}"
  [[ "$src" != "$spec" ]] || die "--file wants SRC=/image/path[:MODE], got '$spec'"
  dest="${rest%%:*}" mode=755
  [[ "$rest" == *:* ]] && mode="${rest##*:}"
  [[ "$src" == /* ]] || src="$repo_root/$src"
  [[ -f "$src" ]] || die "--file source $src not found"
  place "$src" "$dest" "$mode"
done

for spec in ${trees[@]+"${trees[@]}"}; do
  src="${spec%%=*}" dest="${spec#*=}"
  [[ "$src" != "$spec" && "$dest" == /* ]] || die "--tree wants SRCDIR=/image/path, got '$spec'"
  [[ "$src" == /* ]] || src="$repo_root/$src"
  [[ -d "$src" ]] || die "--tree source $src is not a directory"
  mkdir -p "$rootfs$dest"
  cp -RL "$src/." "$rootfs$dest/"
  # Python extension modules and bundled libraries load host libraries too.
  while IFS= read -r -d '' so; do elf_bins+=("$so"); done < <(find "$src" -name '*.so*' -type f -print0)
done

for spec in ${symlinks[@]+"${symlinks[@]}"}; do
  target="${spec%%=*}" link="${spec#*=}"
  mkdir -p "$rootfs$(dirname "$link")"
  ln -sfn "$target" "$rootfs$link"
done

for spec in ${dirs[@]+"${dirs[@]}"}; do
  dir="${spec%%:*}"
  mkdir -p "$rootfs$dir"
  [[ "$spec" == *:* ]] && chmod "${spec##*:}" "$rootfs$dir"
done

# Shared libraries of every executable, plus the dynamic loader, at the paths the binaries look for.
# A tree's shared objects may be static or not ELF at all (ldd refuses them); libraries that live inside a tree
# (wheels' bundled *.libs, found through $ORIGIN) are in the image already.
libs="$(for b in "${elf_bins[@]}"; do ldd "$b" 2>/dev/null || [[ "$b" == *.so* ]]; done |
  awk '/=> \//{print $3; next} $1 ~ /^\//{print $1}' | sort -u)"
[[ -n "$libs" ]] || die "ldd listed no libraries for ${elf_bins[*]}"
for spec in ${trees[@]+"${trees[@]}"}; do
  src="$(readlink -f "${spec%%=*}")"
  libs="$(printf '%s\n' $libs | grep -v -F "$src/" || true)"
done
for lib in $libs; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

# Contents only (names, modes, bytes; never times or the paths they were read from), so every caller gets the same tag.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$stage/rootfs.tar" .
hash="$( { sha256sum <"$stage/rootfs.tar"; printf '%s\n' ${changes[@]+"${changes[@]}"}; } | sha256sum | cut -c1-16)"
tag="$repo:$hash"

if docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag already exists; skipping the import"
else
  log "importing $tag"
  change_args=()
  for c in ${changes[@]+"${changes[@]}"}; do change_args+=(--change "$c"); done
  docker import ${change_args[@]+"${change_args[@]}"} "$stage/rootfs.tar" "$tag" >/dev/null
fi
for extra in ${extra_tags[@]+"${extra_tags[@]}"}; do docker tag "$tag" "$extra"; done
log "$tag ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))${extra_tags[*]:+, also tagged ${extra_tags[*]}}"
echo "$tag"
