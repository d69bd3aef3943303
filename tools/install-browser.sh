#!/usr/bin/env bash
# Make sure headless Chromium is on this machine (Debian/Ubuntu, root), for
# tools/browser_check.py and its end-to-end test. Installs Debian's `chromium`, a
# font (fonts-dejavu-core, so screenshots show text) and certutil (libnss3-tools: the
# check trusts a private CA, the sandbox's ACME test server) when one is missing. Idempotent and quiet: prints one line saying what it did; apt's output
# is shown only when the install fails.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
PACKAGES=(chromium fonts-dejavu-core libnss3-tools)

log() { printf 'install-browser: %s\n' "$*"; }

if [ -x "$CHROMIUM" ] && command -v certutil >/dev/null 2>&1; then
  log "chromium already installed ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "no $CHROMIUM and I can only install it as root on Debian/Ubuntu." >&2
  log "fix: apt-get install --no-install-recommends ${PACKAGES[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
# The package lists may be old or absent on a fresh machine: refresh them first.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"; } >"$out" 2>&1; then
  cat "$out" >&2
  log "apt-get install ${PACKAGES[*]} failed (output above)" >&2
  exit 1
fi
log "installed ${PACKAGES[*]} in $(($(date +%s) - start)) s ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
