#!/usr/bin/env bash
# Makes the `pulumi` CLI and the `pulumi-resource-command` plugin available without any
# download other than the Go module proxy (this workplace cannot reach get.pulumi.com).
#
# - Uses an already installed, compatible `pulumi` when there is one (the official installer's
#   ~/.pulumi/bin, or anything on PATH) at or above PULUMI_MIN_VERSION.
# - Otherwise builds the CLI from github.com/pulumi/pulumi/pkg/v3 through a throw-away wrapper
#   module (pkg/v3's go.mod has replace directives, so `go install pkg@version` is refused).
# - Builds pulumi-resource-command at a pinned commit the same way when the module proxy serves it
#   (it does not in this workplace: see build_command_plugin); set PULUMI_REQUIRE_COMMAND_PLUGIN=1 to fail then.
# Results are cached outside the repository, keyed by version, so a second run takes seconds.
#
# Prints the directory to put on PATH as its last line (`eval` friendly: `export PATH=...`).
# Usage: scripts/pulumi-toolchain.sh [--print-env]
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-3.274.1}"
PULUMI_MIN_VERSION="${PULUMI_MIN_VERSION:-3.248.0}"
COMMAND_VERSION="${PULUMI_COMMAND_VERSION:-1.2.1}"
# pulumi-command has no Go tags for the provider module path: pin the commit of v1.2.1.
COMMAND_COMMIT="${PULUMI_COMMAND_COMMIT:-7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25}"
CACHE_ROOT="${PULUMI_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hgx-pulumi-toolchain}"
CLI_DIR="$CACHE_ROOT/pulumi-v$PULUMI_VERSION"
CMD_DIR="$CACHE_ROOT/command-v$COMMAND_VERSION"
BIN_DIR="$CACHE_ROOT/bin"

log() { printf '[pulumi-toolchain] %s\n' "$*" >&2; }

version_ge() { # version_ge A B: A >= B (dotted numeric)
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

find_installed_cli() {
  local candidate v
  for candidate in "$(command -v pulumi 2>/dev/null || true)" "$HOME/.pulumi/bin/pulumi"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    case "$candidate" in "$BIN_DIR"/*) continue ;; esac
    v="$("$candidate" version 2>/dev/null | sed 's/^v//' || true)"
    if [ -n "$v" ] && version_ge "$v" "$PULUMI_MIN_VERSION"; then
      printf '%s\n' "$candidate"; return 0
    fi
  done
  return 1
}

ensure_go() {
  command -v go >/dev/null 2>&1 || { log "Go is required to build the Pulumi CLI from source (apt-get install golang, or see README)"; exit 1; }
}

build_cli() {
  if [ -x "$CLI_DIR/pulumi" ] && "$CLI_DIR/pulumi" version >/dev/null 2>&1; then return 0; fi
  ensure_go
  log "building pulumi v$PULUMI_VERSION from the Go module proxy (cold: many minutes on 2 cores)"
  local work; work="$(mktemp -d)"
  (
    cd "$work"
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
  )
  rm -rf "$work" "$CLI_DIR"
  mv "$CLI_DIR.tmp" "$CLI_DIR"
  log "built $CLI_DIR/pulumi"
}

# Returns non-zero (after logging the exact error) when the plugin cannot be had: the Go module
# proxy reachable from this workplace has refused github.com/pulumi/pulumi-command/provider
# (403 "This module version is not available"), so the engine tests are written not to need it.
build_command_plugin() {
  local installed
  installed="$(command -v pulumi-resource-command 2>/dev/null || true)"
  if [ -n "$installed" ] && [ "$installed" != "$BIN_DIR/pulumi-resource-command" ]; then
    mkdir -p "$CMD_DIR" && ln -sf "$installed" "$CMD_DIR/pulumi-resource-command"
  fi
  if [ -x "$CMD_DIR/pulumi-resource-command" ]; then return 0; fi
  if [ -f "$CACHE_ROOT/command-v$COMMAND_VERSION.unavailable" ] && [ -z "${PULUMI_TOOLCHAIN_RETRY:-}" ]; then
    log "pulumi-resource-command v$COMMAND_VERSION unavailable (cached verdict; PULUMI_TOOLCHAIN_RETRY=1 to try again): $(tail -n 2 "$CACHE_ROOT/command-v$COMMAND_VERSION.unavailable" | tr '\n' ' ')"
    return 1
  fi
  ensure_go
  log "building pulumi-resource-command v$COMMAND_VERSION from the Go module proxy"
  mkdir -p "$CMD_DIR.tmp"
  if GOBIN="$CMD_DIR.tmp" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_VERSION" \
    "github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command@$COMMAND_COMMIT" 2>"$CMD_DIR.err"; then
    rm -rf "$CMD_DIR" "$CMD_DIR.err"
    mv "$CMD_DIR.tmp" "$CMD_DIR"
    log "built $CMD_DIR/pulumi-resource-command"
    return 0
  fi
  mv "$CMD_DIR.err" "$CACHE_ROOT/command-v$COMMAND_VERSION.unavailable"
  rm -rf "$CMD_DIR.tmp"
  log "WARNING: cannot build pulumi-resource-command v$COMMAND_VERSION: $(tail -n 2 "$CACHE_ROOT/command-v$COMMAND_VERSION.unavailable" | tr '\n' ' ')"
  return 1
}

main() {
  mkdir -p "$CACHE_ROOT" "$BIN_DIR"
  local cli
  if cli="$(find_installed_cli)"; then
    log "using installed $cli ($("$cli" version))"
  else
    build_cli
    cli="$CLI_DIR/pulumi"
  fi
  ln -sf "$cli" "$BIN_DIR/pulumi"
  local command_state="command v$COMMAND_VERSION"
  if build_command_plugin; then
    ln -sf "$CMD_DIR/pulumi-resource-command" "$BIN_DIR/pulumi-resource-command"
  else
    rm -f "$BIN_DIR/pulumi-resource-command"
    command_state="command provider UNAVAILABLE"
    [ -n "${PULUMI_REQUIRE_COMMAND_PLUGIN:-}" ] && exit 1
  fi
  log "toolchain ready in $BIN_DIR: $("$BIN_DIR/pulumi" version), $command_state"
  if [ "${1:-}" = "--print-env" ]; then
    printf 'export PATH="%s:$PATH"\n' "$BIN_DIR"
  else
    printf '%s\n' "$BIN_DIR"
  fi
}

main "$@"
