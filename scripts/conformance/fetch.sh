#!/usr/bin/env bash
# Builds (once) the conformance venv for sglang $1 + sglang-router $2 (default: the stack's own, default-versions.sh) from requirements/ (pip
# --require-hashes --no-deps: every file pinned by sha256) under ~/.cache/hgx-conformance/, outside the
# repository, and prints its python on the last line. A venv whose requirements file is unchanged is
# reused (well under a second); a changed or missing file fails with the command that pins it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# No arguments: the releases the stack deploys by default.
if [ $# -eq 0 ]; then read -r sglang_version router_version < <(bash "$here/default-versions.sh"); else
  sglang_version="${1:?usage: fetch.sh [SGLANG_VERSION ROUTER_VERSION]}"
  router_version="${2:?usage: fetch.sh [SGLANG_VERSION ROUTER_VERSION]}"
fi
name="sglang-$sglang_version+router-$router_version"
requirements="$here/requirements/$name.txt"
[ -f "$requirements" ] || {
  echo "fetch: $requirements is missing: the conformance suite has no pins for sglang $sglang_version + sglang-router $router_version. Fix: bash scripts/conformance/lock.sh $sglang_version $router_version, then commit the file" >&2
  exit 1
}
# shellcheck source=common.sh
. "$here/common.sh"
venv="$cache/$name"
stamp="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements-sha256" 2>/dev/null)" = "$stamp" ]; then
  echo "fetch: reusing $venv" >&2
  echo "$venv/bin/python"
  exit 0
fi
python_cmd="${PYTHON_BIN:-python3.11}"
command -v "$python_cmd" >/dev/null || { echo "fetch: $python_cmd not found; the pinned sglang wheel is for CPython 3.11 (install it, or set PYTHON_BIN)" >&2; exit 1; }
echo "fetch: building $venv from $requirements (PyPI, pinned by sha256)" >&2
rm -rf "$venv.partial"
mkdir -p "$cache"
"$python_cmd" -m venv "$venv.partial"
"$venv.partial/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: -r "$requirements"
echo "$stamp" > "$venv.partial/.requirements-sha256"
rm -rf "$venv"
mv "$venv.partial" "$venv"
# A venv's scripts hold its absolute path: the move keeps the interpreter usable (python -m only).
echo "fetch: ready ($(du -sh "$venv" | cut -f1))" >&2
echo "$venv/bin/python"
