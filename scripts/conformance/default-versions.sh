#!/usr/bin/env bash
# Prints "<sglang version> <sglang-router version>" that the stack deploys by default: the tag of the
# `sglangImage` default (the serving layer's config slice, components/serving/config.ts) and the router image's sglang-router pin. One place, so the
# conformance venv, the value-list generator and CI all judge the same releases.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
sglang="$(grep -oP 'sglangImage: \{[^}]*default: "[^"]*:v\K[0-9]+\.[0-9]+\.[0-9]+(\.post[0-9]+)?' "$root/components/serving/config.ts")"
router="$(grep -oP '^sglang-router==\K\S+' "$root/scripts/router-image/requirements.txt")"
[ -n "$sglang" ] && [ -n "$router" ] || { echo "default-versions: could not read the sglangImage default or the router pin" >&2; exit 1; }
echo "$sglang $router"
