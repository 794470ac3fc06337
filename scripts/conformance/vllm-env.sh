#!/usr/bin/env bash
# Builds (once; later runs only check) what the `vllm bench serve` conformance test needs, outside the repository:
#   - vllm 0.18.0's wheel from PyPI (pip download --require-hashes: sha256 pinned below), of which only the
#     .py files and the dist-info are unpacked (the compiled kernels are not needed to parse and check);
#   - a venv with the Python dependencies that code really runs (scripts/conformance/vllm-requirements.txt).
# Last stdout line: JSON {python, src, version}, read by test/integration/conformance/vllmBenchServe.test.ts.
# Cache: see common.sh ($HGX_CONFORMANCE_CACHE, else ~/.cache/hgx-conformance).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$here/common.sh"
version="0.18.0"
wheel_sha="0bc51491598f4bcd161b693b27cbe2864082d6c49fa9065965d94b371f6ae8ef"
log() { printf '[vllm-env] %s\n' "$*" >&2; }
build_lock vllm 900

src="$cache/vllm-$version"
if [ ! -f "$src/.ok" ]; then
  dl="$cache/dl/vllm-$version"
  rm -rf "$dl" && mkdir -p "$dl"
  log "downloading vllm $version (about 430 MB) from PyPI"
  printf 'vllm==%s --hash=sha256:%s\n' "$version" "$wheel_sha" >"$dl/req.txt"
  timeout 900 python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: --require-hashes -r "$dl/req.txt" -d "$dl" >&2
  wheel="$(ls "$dl"/vllm-"$version"-*.whl)"
  rm -rf "$src" && mkdir -p "$src"
  python3 - "$wheel" "$src" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if (n.startswith("vllm/") and n.endswith(".py")) or ".dist-info/" in n]
    z.extractall(dest, names)
PY
  rm -rf "$dl"
  [ -f "$src/vllm/benchmarks/serve.py" ] || { log "vllm $version: no vllm/benchmarks/serve.py in the wheel"; exit 1; }
  touch "$src/.ok"
fi

hashed_venv vllm "$here/vllm-requirements.txt"
printf '{"python":"%s","src":"%s","version":"%s"}\n' "$venv/bin/python" "$src" "$version"
