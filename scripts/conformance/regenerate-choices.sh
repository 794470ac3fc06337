#!/usr/bin/env bash
# Regenerates components/serving/sglangChoices.generated.json from the pinned wheels (check.py choices in
# the cached venv). Versions: the stack's defaults (sglangImage's tag, the router image's sglang-router pin),
# or SGLANG_VERSION / ROUTER_VERSION to rehearse another release (pins it first with lock.sh if needed).
# Writes to the checked-in file, or to $1 when given.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
read -r default_sglang default_router < <(bash "$here/default-versions.sh")
sglang_version="${SGLANG_VERSION:-$default_sglang}"
router_version="${ROUTER_VERSION:-$default_router}"
out="${1:-$root/components/serving/sglangChoices.generated.json}"
[ -f "$here/requirements/sglang-$sglang_version+router-$router_version.txt" ] || bash "$here/lock.sh" "$sglang_version" "$router_version" >&2
python="$(bash "$here/fetch.sh" "$sglang_version" "$router_version" | tail -n 1)"
"$python" -W ignore "$here/check.py" choices > "$out.tmp" 2>/dev/null
mv "$out.tmp" "$out"
echo "regenerate: sglang $sglang_version + sglang-router $router_version -> $out" >&2
