#!/usr/bin/env bash
# Cost control: destroy a stack's compute (instance, SSH key, firewall rulesets, containers) while
# the persistent filesystem holding the weights stays (lambdaRetainFilesystem, default true: the
# filesystem resource is `retainOnDelete`). The next `pulumi up` adopts that filesystem by name and
# launches in its region, so a redeploy skips the ~800 GB download.
#
#   bash scripts/down.sh dev          # stop paying for the 8x B200, keep the weights (~$0.20/GB-month)
set -euo pipefail
stack="${1:?usage: scripts/down.sh <stack>}"
cd "$(dirname "$0")/.."
fs_name="$(pulumi config get hgx-inference:lambdaFilesystemName --stack "$stack" 2>/dev/null || true)"
retain="$(pulumi config get hgx-inference:lambdaRetainFilesystem --stack "$stack" 2>/dev/null || echo true)"
pulumi destroy --yes --stack "$stack"
if [ -n "$fs_name" ] && [ "$retain" != "false" ]; then
  echo "[down] compute destroyed; filesystem '$fs_name' and the weights in it are retained (it bills until deleted in the Lambda dashboard)."
  echo "[down] redeploy with: pulumi up --stack $stack"
else
  echo "[down] compute destroyed; no retained filesystem (the next deploy downloads the weights again)."
fi
