#!/usr/bin/env bash
# The embedded default in one command: sets up this machine (Docker engine, npm packages, Pulumi
# CLI, the SGLang simulator image), then brings the `local` stack up and prints its benchmark
# metrics — or tears it down.
#
#   bash scripts/local.sh up        # deploy + benchmark, prints the outputs as JSON
#   bash scripts/local.sh down      # destroy (the HF cache volume is kept)
#
# With a Pulumi installation that has its Node.js language host and can get the docker and
# command plugins (the official installer, with internet), this is `pulumi up --stack local` on a
# local file backend. Where those cannot be had (an offline machine), it runs the same specs
# without the engine (scripts/local-rehearsal.ts) and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
verb="${1:-up}"
log() { printf '[local] %s\n' "$*" >&2; }

bash scripts/setup-machine.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund >&2
fi
export PATH="$(bash scripts/pulumi-toolchain.sh | tail -n 1):$PATH"
bash scripts/build-simulator-image.sh >/dev/null

export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi-local}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
export PULUMI_SKIP_UPDATE_CHECK=true
mkdir -p .pulumi-local

plugin_version() { node -p "require('./node_modules/@pulumi/$1/package.json').pulumi.version"; }

# Whether `pulumi up` can run this project here: a language host and both resource plugins.
engine_ready() {
  local cli_dir; cli_dir="$(dirname "$(readlink -f "$(command -v pulumi)")")"
  if ! command -v pulumi-language-nodejs >/dev/null 2>&1 && [ ! -x "$cli_dir/pulumi-language-nodejs" ]; then
    log "no pulumi-language-nodejs next to the CLI (a CLI built from Go modules has none)"
    return 1
  fi
  local name
  for name in docker command; do
    if ! pulumi plugin ls 2>/dev/null | grep -q "^$name .*$(plugin_version "$name")"; then
      log "getting the $name plugin v$(plugin_version "$name")"
      timeout 300 pulumi plugin install resource "$name" "$(plugin_version "$name")" >&2 || { log "the $name plugin cannot be installed here"; return 1; }
    fi
  done
}

if engine_ready; then
  pulumi stack select local --create --non-interactive >&2
  case "$verb" in
    up)
      pulumi up --yes --stack local --non-interactive >&2
      pulumi stack output --stack local --json
      ;;
    down) pulumi destroy --yes --stack local --non-interactive >&2 ;;
    *) log "usage: scripts/local.sh up|down"; exit 2 ;;
  esac
else
  log "the Pulumi engine cannot run this project on this machine: rehearsing the local stack's specs without it"
  case "$verb" in
    up) npx tsx scripts/local-rehearsal.ts up ;;
    down) npx tsx scripts/local-rehearsal.ts down ;;
    *) log "usage: scripts/local.sh up|down"; exit 2 ;;
  esac
fi
