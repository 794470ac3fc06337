#!/usr/bin/env bash
# Builds (once; later runs only check) what the cloud-init conformance test needs, outside the repository:
#   - cloud-init's own code from Debian's packages, each checked against its sha256 and unpacked with dpkg-deb:
#       25.1.4-1+deb13u1 (trixie; Ubuntu 24.04's cloud-init release): REQUIRED, any failure fails the script;
#       26.2-1 (sid): OPTIONAL, sid's pool drops old versions, so a download failure is reported, not fatal;
#   - a venv with its Python dependencies (scripts/conformance/cloudinit-requirements.txt, hash-pinned).
# Last stdout line: JSON {python, releases: [{version, required, pythonpath | missing}]}, read by
# test/integration/conformance/cloudinit.test.ts. Cache: see common.sh ($HGX_CONFORMANCE_CACHE, else ~/.cache/hgx-conformance).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$here/common.sh"
pool="http://deb.debian.org/debian/pool/main/c/cloud-init"
log() { printf '[cloudinit-env] %s\n' "$*" >&2; }
build_lock cloudinit 600

# version sha256 required
releases=(
  "25.1.4-1+deb13u1 1b120a44110e7234c9cf9ccde78fb5d5ea1292c94ef0ca70d09a580f72980df3 1"
  "26.2-1 17fc7a7f428dbea1195543259955a75f170870473990a43375de99009bd60462 0"
)

# fetch VERSION SHA256 -> unpacks into $cache/cloud-init-VERSION; returns non-zero with a reason on stderr.
fetch() {
  local version="$1" sha="$2" deb="$cache/dl/cloud-init_${1}_all.deb" dir="$cache/cloud-init-$1"
  [ -f "$dir/.ok" ] && return 0
  if [ ! -f "$deb" ] || ! echo "$sha  $deb" | sha256sum -c --quiet - >/dev/null 2>&1; then
    log "downloading cloud-init $version"
    curl -fsS --retry 3 --connect-timeout 20 --max-time 300 -o "$deb.part" "$pool/cloud-init_${version}_all.deb" || { rm -f "$deb.part"; log "cloud-init $version: download failed"; return 1; }
    mv "$deb.part" "$deb"
  fi
  if ! echo "$sha  $deb" | sha256sum -c --quiet - >/dev/null 2>&1; then
    log "cloud-init $version: sha256 $(sha256sum "$deb" | cut -d' ' -f1) is not the pinned $sha"
    rm -f "$deb"
    return 1
  fi
  rm -rf "$dir" && mkdir -p "$dir"
  dpkg-deb -x "$deb" "$dir"
  [ -d "$dir/usr/lib/python3/dist-packages/cloudinit" ] || { log "cloud-init $version: no cloudinit package in the .deb"; return 1; }
  touch "$dir/.ok"
}

hashed_venv cloudinit "$here/cloudinit-requirements.txt"

entries=()
for r in "${releases[@]}"; do
  read -r version sha required <<<"$r"
  if fetch "$version" "$sha"; then
    entries+=("{\"version\":\"$version\",\"required\":$([ "$required" = 1 ] && echo true || echo false),\"pythonpath\":\"$cache/cloud-init-$version/usr/lib/python3/dist-packages\"}")
  elif [ "$required" = 1 ]; then
    log "the required cloud-init $version could not be fetched"
    exit 1
  else
    entries+=("{\"version\":\"$version\",\"required\":false,\"missing\":\"not fetched from Debian's pool (sid drops old versions)\"}")
  fi
done
printf '{"python":"%s","releases":[%s]}\n' "$venv/bin/python" "$(IFS=,; echo "${entries[*]}")"
