#!/usr/bin/env bash
# Installs and starts the machine-level services the tests and the local stack need:
# Debian's docker.io (dockerd started if not running; the integration tests run a second dockerd of
# their own from the same package) and openssh-server (the SSH test host runs its own sshd on a
# loopback port), plus curl (readiness gate), dash (the images the fixtures assemble) and iproute2
# (`ip`: the test rig's bridge).
# Idempotent: a second run only checks.
set -euo pipefail
log() { printf '[setup-machine] %s\n' "$*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# fonts-dejavu-core: the font the capacity report's PNG charts are drawn with (resvg draws no text without one).
packages=(docker.io openssh-server openssh-client curl dash procps iproute2 fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  $SUDO mkdir -p /var/log
  # A daemon outlives this script: it must not inherit the caller's open files (a lock a CI wrapper
  # holds would be held for as long as dockerd runs), so every descriptor above stderr is closed.
  (
    for fd in /proc/$BASHPID/fd/*; do n=${fd##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done
    $SUDO setsid dockerd >/var/log/hgx-dockerd.log 2>&1 </dev/null &
  )
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; last log lines:"; tail -n 30 /var/log/hgx-dockerd.log >&2; exit 1; }
fi
log "docker engine $(docker version --format '{{.Server.Version}}') ready"

$SUDO mkdir -p /run/sshd
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || { log "sshd missing after install"; exit 1; }
log "sshd available at $(command -v sshd || echo /usr/sbin/sshd)"
