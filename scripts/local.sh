#!/usr/bin/env bash
# The embedded default in one command: sets up this machine (Docker engine, npm packages, the Pulumi
# CLI with its Node.js language host and the docker and command plugins, the SGLang simulator image),
# then runs `pulumi up` of this program on the `local` stack — or `pulumi destroy`.
#
#   bash scripts/local.sh up        # deploy + benchmark; prints the stack outputs as JSON on stdout
#   bash scripts/local.sh down      # destroy (the HF cache volume is retained, as the stack says)
#   bash scripts/local.sh measure   # down, then a timed up from nothing: where the time went (engine events)
#
# Every `up` keeps the engine's event log (.pulumi-local/last-up-events.jsonl) and prints the breakdown
# of its time (scripts/deploy-breakdown.ts): the waits for the server, gate and benchmark, and the
# stack's own overhead.
#
# `pulumi config set hgx-inference:replicas 2 --stack local` and `pulumi config set --secret
# hgx-inference:sglangApiKey <key> --stack local` (a routed stack refuses to run without a key) first: two
# simulator containers behind the real SGLang router (its image is built from PyPI's pinned wheel by
# scripts/build-router-image.sh).
#
# State lives in a local file backend (.pulumi-local/, or PULUMI_BACKEND_URL); the local stack holds no
# secret, so its passphrase is empty unless PULUMI_CONFIG_PASSPHRASE says otherwise. The Docker engine is
# the one the docker CLI reaches (DOCKER_HOST, else the default socket).
set -euo pipefail
cd "$(dirname "$0")/.."
verb="${1:-up}"
case "$verb" in up|down|measure) ;; *) printf 'usage: scripts/local.sh up|down|measure\n' >&2; exit 2 ;; esac
log() { printf '[local] %s\n' "$*" >&2; }
t0=$SECONDS

bash scripts/setup-machine.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages from the lockfile"
  npm ci --no-audit --no-fund >&2
fi
bin_dir="$(bash scripts/pulumi-toolchain.sh | tail -n 1)"
export PATH="$bin_dir:$PATH"

export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi-local}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
export PULUMI_SKIP_UPDATE_CHECK=true
# Every plugin is on PATH (scripts/pulumi-toolchain.sh): never download one mid-update.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
case "$PULUMI_BACKEND_URL" in file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;; esac

if ! pulumi stack select local --non-interactive 2>/dev/null; then
  log "creating the local stack in $PULUMI_BACKEND_URL"
  pulumi stack init local --secrets-provider passphrase --non-interactive >&2
fi

stack_up() {
  log "building the SGLang simulator image (cached by content)"
  bash scripts/build-simulator-image.sh >/dev/null
  replicas="$(pulumi config get hgx-inference:replicas --stack local 2>/dev/null || echo 1)"
  if [ "${replicas:-1}" -gt 1 ]; then
    log "replicas: $replicas; building the SGLang router image from PyPI's pinned sglang-router wheel (cached by content)"
    bash scripts/build-router-image.sh >/dev/null
  fi
  local events="${PULUMI_BACKEND_URL#file://}/last-up-events.jsonl"
  case "$PULUMI_BACKEND_URL" in file://*) ;; *) events="$(mktemp -t hgx-up-events.XXXXXX)" ;; esac
  log "pulumi up --stack local (setup took $((SECONDS - t0)) s)"
  local up0=$SECONDS
  # --event-log is one of the CLI's debug flags (the Automation API sets the same variable to use it).
  PULUMI_DEBUG_COMMANDS=true pulumi up --yes --skip-preview --stack local --non-interactive --suppress-progress --event-log "$events" >&2
  log "pulumi up took $((SECONDS - up0)) s; where it went (engine event timestamps):"
  npx --no-install tsx scripts/deploy-breakdown.ts "$events" >&2 || log "(no breakdown: $events unreadable)"
  log "done in $((SECONDS - t0)) s; report: $(pulumi stack output benchmark --stack local --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s)?.reportPath??"(none)")}catch{console.log("(none)")}})')"
  pulumi stack output --stack local --json
}

stack_down() {
  pulumi destroy --yes --skip-preview --stack local --non-interactive --suppress-progress >&2
  log "destroyed in $((SECONDS - t0)) s (the HF cache volume is retained)"
}

case "$verb" in
  up) stack_up ;;
  down) stack_down ;;
  measure)
    # From nothing (images and the cache volume stay: a warm deploy), so the figure is the deploy itself.
    stack_down
    t0=$SECONDS
    stack_up >/dev/null
    ;;
esac
