# Sourced by every conformance fetch script (fetch.sh, cloudinit-env.sh, vllm-env.sh), so they share one cache
# root and one way to build and guard it. Callers define `log` before calling the functions.

# The cache every pinned release and venv lives in, outside the repository.
cache="${HGX_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hgx-conformance}"

# build_lock NAME SECONDS: one builder of NAME at a time (two test files or runs may start together); the
# lock is held on fd 9 until the script exits.
build_lock() {
  mkdir -p "$cache/dl"
  exec 9>"$cache/.$1.lock"
  flock -w "$2" 9 || { log "another build holds $cache/.$1.lock for over $2 s"; exit 1; }
}

# hashed_venv NAME REQUIREMENTS: builds (once) a venv from a hash-pinned requirements file under
# $cache/venv-NAME-<hash of the file> and sets $venv to it. The file's hash names the venv, so a changed pin
# builds a new one and a stale one is never reused.
hashed_venv() {
  local name="$1" req="$2"
  venv="$cache/venv-$name-$(sha256sum "$req" | cut -c1-12)"
  [ -f "$venv/.ok" ] && return 0
  log "building $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --only-binary :all: --require-hashes -r "$req" >&2
  touch "$venv/.ok"
}
