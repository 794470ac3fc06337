#!/usr/bin/env bash
# Cost control: destroy a stack's compute (instance, SSH key, firewall rulesets, host key, containers,
# commands) while what names the stack's Lambda objects stays in the stack's state on its own backend:
# each machine's identity (the random stack id), the retained filesystem holding the weights
# (lambdaRetainFilesystem, default true) and the benchmark history. The next `pulumi up` of this stack
# therefore re-attaches the filesystem and launches in its region (the ~800 GB download is skipped), and
# no id is written to any file: a teammate's stack of the same name on another backend never shares it.
# (components/ops/downTargets.ts lists what is destroyed; `pulumi destroy` alone removes the identity too.)
#
#   bash scripts/down.sh dev          # stop paying for the 8x B200, keep the weights (~$0.20/GB-month)
set -euo pipefail
stack="${1:?usage: scripts/down.sh <stack>}"
cd "$(dirname "$0")/.."
retain="$(pulumi config get hgx-inference:lambdaRetainFilesystem --stack "$stack" 2>/dev/null || echo true)"
[ "$retain" = "false" ] || retain=true
work="$(mktemp -d)"
chmod 700 "$work"
trap 'rm -rf "$work"' EXIT
pulumi stack export --stack "$stack" > "$work/state.json"
mapfile -t targets < <(npx tsx scripts/down-targets.ts "$work/state.json" "$retain")
if [ "${#targets[@]}" -eq 0 ]; then
  echo "[down] stack $stack holds nothing to destroy."
  exit 0
fi
args=()
for urn in "${targets[@]}"; do args+=(--target "$urn"); done
pulumi destroy --yes --stack "$stack" --target-dependents "${args[@]}"
if [ "$retain" = "true" ]; then
  echo "[down] compute destroyed; the stack keeps its identity and filesystem (it bills until deleted in the Lambda dashboard)."
  echo "[down] the next deploy re-attaches it: pulumi up --stack $stack"
else
  echo "[down] compute destroyed; no retained filesystem (the next deploy downloads the weights again)."
fi
