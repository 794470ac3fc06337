#!/usr/bin/env bash
# Cost control: destroy a stack's compute (instance, SSH key, firewall rulesets, containers) while
# the persistent filesystem holding the weights stays (lambdaRetainFilesystem, default true: the
# filesystem resource is `retainOnDelete`).
#
# The retained filesystem is named after the stack's identity, whose random part (`host.stackId`)
# lives in the state that `pulumi destroy` removes. So that the next `pulumi up` of this stack finds
# the filesystem again (and skips the ~800 GB download) instead of creating a new identity, this
# script records that id as the stack setting `lambdaStackId` (in Pulumi.<stack>.yaml) before
# destroying. No other stack, backend or organization ever adopts it.
#
#   bash scripts/down.sh dev          # stop paying for the 8x B200, keep the weights (~$0.20/GB-month)
set -euo pipefail
stack="${1:?usage: scripts/down.sh <stack>}"
cd "$(dirname "$0")/.."
fs_name="$(pulumi config get hgx-inference:lambdaFilesystemName --stack "$stack" 2>/dev/null || true)"
retain="$(pulumi config get hgx-inference:lambdaRetainFilesystem --stack "$stack" 2>/dev/null || echo true)"
stack_id="$(pulumi stack output host --json --stack "$stack" 2>/dev/null | node -e '
  let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
    try { const id = JSON.parse(s || "{}").stackId; if (/^[0-9a-f]{16}$/.test(id ?? "")) process.stdout.write(id); } catch {}
  });' || true)"
pulumi destroy --yes --stack "$stack"
if [ -n "$fs_name" ] && [ "$retain" != "false" ]; then
  if [ -n "$stack_id" ]; then
    pulumi config set hgx-inference:lambdaStackId "$stack_id" --stack "$stack"
    echo "[down] compute destroyed; filesystem '$fs_name' and the weights in it are retained (it bills until deleted in the Lambda dashboard)."
    echo "[down] lambdaStackId=$stack_id recorded in Pulumi.$stack.yaml, so the next deploy re-attaches it: pulumi up --stack $stack"
  else
    echo "[down] compute destroyed; filesystem '$fs_name-…' is retained, but the stack had no host.stackId output to record,"
    echo "[down] so the next deploy creates a new one: delete the old one in the Lambda dashboard to stop its storage bill."
  fi
else
  echo "[down] compute destroyed; no retained filesystem (the next deploy downloads the weights again)."
fi
