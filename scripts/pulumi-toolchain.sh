#!/usr/bin/env bash
# Makes everything a real `pulumi up` of this Node.js project needs available in ONE directory, and
# prints that directory as its last line (put it first on PATH):
#
#   pulumi                          the CLI (>= PULUMI_MIN_VERSION)
#   pulumi-language-nodejs          the Node.js language host (runs index.ts and the policy pack)
#   pulumi-resource-pulumi-nodejs   the script the language host starts for dynamic providers
#   pulumi-resource-command         the @pulumi/command provider (the version package.json pins)
#   pulumi-resource-docker          the @pulumi/docker provider (the version package.json pins)
#
# The engine takes plugins found on PATH before any in $PULUMI_HOME, so with this directory first on
# PATH no `pulumi plugin install` and no download is needed at `up` time.
#
# Where each piece comes from:
#   CLI:     an installed CLI >= PULUMI_MIN_VERSION (PATH or ~/.pulumi/bin); else, online, the official
#            installer; offline (or when the installer fails), built from the Go module proxy (~4-7 min cold).
#   plugins: offline — when the plugin kit `../shared/pulumi-plugins/build.sh` is beside the checkout (or
#            PULUMI_PLUGINS_KIT=<dir> names it) — built by that kit from public source (~15 min cold on
#            2 cores, then cached); online, the language host beside the official CLI and
#            `pulumi plugin install` for docker and command.
# Everything is cached outside the repository (~/.cache/hgx-pulumi-toolchain, keyed by version), so a
# warm run takes about a second.
#
# Usage: scripts/pulumi-toolchain.sh [--print-env]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PULUMI_VERSION="${PULUMI_VERSION:-3.274.1}"
PULUMI_MIN_VERSION="${PULUMI_MIN_VERSION:-3.248.0}"
CACHE_ROOT="${PULUMI_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hgx-pulumi-toolchain}"
CLI_DIR="$CACHE_ROOT/pulumi-v$PULUMI_VERSION"
# Named `bin` so that Automation API's PulumiCommand.get({ root: <parent> }) finds <root>/bin/pulumi.
BIN_DIR="$CACHE_ROOT/bin"
PLUGINS=(pulumi-language-nodejs pulumi-resource-pulumi-nodejs pulumi-resource-command pulumi-resource-docker)

log() { printf '[pulumi-toolchain] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

version_ge() { # version_ge A B: A >= B (dotted numeric)
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# The provider version the npm package asks for (so the engine's plugin matches the SDK).
npm_plugin_version() {
  local pkg="$repo_root/node_modules/@pulumi/$1/package.json"
  if [ -f "$pkg" ]; then
    node -p "require(process.argv[1]).pulumi?.version ?? require(process.argv[1]).version" "$pkg"
  else
    node -p "require(process.argv[1]).dependencies['@pulumi/$1']" "$repo_root/package.json"
  fi
}

find_installed_cli() {
  local candidate v
  for candidate in "$(command -v pulumi 2>/dev/null || true)" "$HOME/.pulumi/bin/pulumi"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    case "$(readlink -f "$candidate")" in "$(readlink -f "$BIN_DIR")"/*|"$CACHE_ROOT"/*) continue ;; esac
    v="$("$candidate" version 2>/dev/null | sed 's/^v//' || true)"
    if [ -n "$v" ] && version_ge "$v" "$PULUMI_MIN_VERSION"; then
      printf '%s\n' "$candidate"; return 0
    fi
  done
  return 1
}

# The official installer, where the internet is reachable (a refusal here is quick).
official_install() {
  command -v curl >/dev/null 2>&1 || return 1
  curl -fsS --max-time 15 -o /dev/null https://get.pulumi.com 2>/dev/null || return 1
  log "installing Pulumi v$PULUMI_VERSION with the official installer"
  curl -fsSL --max-time 600 https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION" >&2 || return 1
  [ -x "$HOME/.pulumi/bin/pulumi" ]
}

build_cli() {
  if [ -x "$CLI_DIR/pulumi" ] && "$CLI_DIR/pulumi" version >/dev/null 2>&1; then return 0; fi
  command -v go >/dev/null 2>&1 || die "Go is required to build the Pulumi CLI from source (apt-get install golang-go)"
  log "building the Pulumi CLI v$PULUMI_VERSION from the Go module proxy (first run on this machine: ~4-7 min on 2 cores; cached afterwards)"
  local work t0=$SECONDS; work="$(mktemp -d)"
  (
    cd "$work"
    # pkg/v3's go.mod has replace directives, so `go install pkg@version` is refused: use a wrapper module.
    cat > go.mod <<GOMOD
module local/pulumi-cli-wrapper

go 1.24

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
GOMOD
    printf 'package main\n' > main.go
    GOFLAGS=-mod=mod go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
    mkdir -p "$CLI_DIR.tmp"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
      -o "$CLI_DIR.tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  ) >&2
  rm -rf "$work" "$CLI_DIR"
  mv "$CLI_DIR.tmp" "$CLI_DIR"
  log "built $CLI_DIR/pulumi in $((SECONDS - t0)) s"
}

# Puts a file into BIN_DIR. The CLI is hard-linked or copied (a symlink would make it look for its
# language host beside the symlink's target); plugins are symlinked.
place() { # place SRC NAME copy|link
  local src dst="$BIN_DIR/$2"
  src="$(readlink -f "$1")"
  if [ "$3" = copy ]; then
    [ ! -L "$dst" ] && [ "$src" -ef "$dst" ] && return 0
    rm -f "$dst.tmp"
    ln "$src" "$dst.tmp" 2>/dev/null || cp "$src" "$dst.tmp"
    mv -f "$dst.tmp" "$dst"
  else
    ln -sfn "$src" "$dst"
  fi
}

plugins_complete() { local f; for f in "${PLUGINS[@]}"; do [ -x "$BIN_DIR/$f" ] || return 1; done; }

# Plugins beside an official CLI and from `pulumi plugin install` (needs the internet).
plugins_from_official() {
  local cli_dir="$1" name version dir
  [ -x "$cli_dir/pulumi-language-nodejs" ] || return 1
  place "$cli_dir/pulumi-language-nodejs" pulumi-language-nodejs link
  [ -x "$cli_dir/pulumi-resource-pulumi-nodejs" ] && place "$cli_dir/pulumi-resource-pulumi-nodejs" pulumi-resource-pulumi-nodejs link
  for name in command docker; do
    version="$(npm_plugin_version "$name")"
    timeout 300 "$BIN_DIR/pulumi" plugin install resource "$name" "$version" >&2 || return 1
    dir="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-$name-v$version"
    [ -x "$dir/pulumi-resource-$name" ] || return 1
    place "$dir/pulumi-resource-$name" "pulumi-resource-$name" link
  done
  plugins_complete
}

# Plugins from the offline builder (public source, built with Go modules from the module proxy).
plugins_from_kit() {
  local kit="$1" dir f
  log "building/reusing the offline plugin kit in $kit (first run on this machine: ~15 min on 2 cores; cached afterwards)"
  dir="$(bash "$kit/build.sh" | tail -n 1)" || return 1
  for f in "${PLUGINS[@]}"; do [ -x "$dir/$f" ] || { log "the plugin kit did not produce $f"; return 1; }; place "$dir/$f" "$f" link; done
}

main() {
  mkdir -p "$CACHE_ROOT" "$BIN_DIR"
  local kit="${PULUMI_PLUGINS_KIT:-$repo_root/../shared/pulumi-plugins}" cli
  # An offline plugin kit beside the checkout means an offline machine: never reach for the internet there.
  if cli="$(find_installed_cli)"; then
    log "using installed $cli ($("$cli" version))"
  elif [ ! -f "$kit/build.sh" ] && official_install; then
    cli="$HOME/.pulumi/bin/pulumi"
  else
    build_cli
    cli="$CLI_DIR/pulumi"
  fi
  place "$cli" pulumi copy

  if ! plugins_complete; then
    if [ -f "$kit/build.sh" ]; then
      plugins_from_kit "$kit" || die "the offline plugin kit in $kit failed (see its output above)"
    else
      plugins_from_official "$(dirname "$(readlink -f "$cli")")" || die \
        "no Node.js language host and docker/command plugins: install the official Pulumi CLI (it ships the language host; 'pulumi plugin install' needs the internet), or provide the offline plugin kit (PULUMI_PLUGINS_KIT=<dir with build.sh>)"
    fi
  fi
  log "toolchain ready in $BIN_DIR: pulumi $("$BIN_DIR/pulumi" version), language host, command v$(npm_plugin_version command), docker v$(npm_plugin_version docker)"
  if [ "${1:-}" = "--print-env" ]; then
    printf 'export PATH="%s:$PATH"\n' "$BIN_DIR"
  else
    printf '%s\n' "$BIN_DIR"
  fi
}

main "$@"
