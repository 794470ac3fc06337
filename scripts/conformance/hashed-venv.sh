# Sourced by the conformance env scripts. hashed_venv NAME REQUIREMENTS: builds (once) a venv from a
# hash-pinned requirements file under $cache/venv-NAME-<hash of the file> and sets $venv to it. The file's
# hash names the venv, so a changed pin builds a new one and a stale one is never reused.
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
