#!/usr/bin/env bash
# Build the systemd test-host image that Molecule scenarios and `make demo` run.
#
# No registry can be reached, so the image is made from Debian's mirror with
# debootstrap and imported into the local Docker engine. The controller's CA
# bundle goes inside, so pip inside the hosts trusts the same TLS proxy the
# controller does. The image carries a label with the hash of this recipe and
# is rebuilt only when the recipe (this file or the CA bundle) changes.
set -euo pipefail

IMAGE="${BERTH_IMAGE:-berth-debian12-systemd:latest}"
SUITE="${BERTH_SUITE:-bookworm}"
MIRROR="${BERTH_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE="${BERTH_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
# What every test host has before any role runs: an init, Python for Ansible,
# and the tools Testinfra and the health gates use.
PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,iproute2,procps,curl,gnupg,sudo"

log() { printf 'build-image: %s\n' "$*" >&2; }

recipe_hash=$(cat "$0" "$CA_BUNDLE" | sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "berth.recipe" }}' "$IMAGE" 2>/dev/null || true)
if [ "$current" = "$recipe_hash" ]; then
  log "$IMAGE is up to date (recipe $recipe_hash)"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { log "debootstrap is missing; install it (apt-get install debootstrap) and re-run"; exit 1; }
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi

work=$(mktemp -d /var/tmp/berth-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

log "debootstrap $SUITE into $root (about a minute)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# Trust what the controller trusts (TLS-inspecting proxies), for apt, curl and pip.
install -m 0644 "$CA_BUNDLE" "$root/usr/local/share/ca-certificates/berth-controller-bundle.crt"
install -m 0644 "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"

cat >"$root/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
SOURCES
# Keep the image small; apt still works normally inside the hosts.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
# A container has no consoles, no udev and no time to sync; these units only fail there.
for unit in getty.target systemd-udevd.service systemd-udev-trigger.service \
            systemd-timesyncd.service console-getty.service systemd-firstboot.service \
            apt-daily.timer apt-daily-upgrade.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
: >"$root/etc/machine-id"

log "importing $IMAGE"
tar -C "$root" -c . | docker import \
  -c "LABEL berth.recipe=$recipe_hash" \
  -c 'ENV container=docker' \
  -c 'CMD ["/lib/systemd/systemd"]' \
  - "$IMAGE" >/dev/null
log "built $IMAGE (recipe $recipe_hash)"
