#!/usr/bin/env bash
# Build the systemd test-host images that Molecule scenarios and `make demo` run:
# one per Debian release, from this one recipe.
#
#   tools/build-image.sh                 both: bookworm and trixie
#   tools/build-image.sh trixie          one suite
#   BERTH_IMAGE_TAG=try tools/build-image.sh   try a recipe change without replacing
#                                        the :latest images other runs use
#
#   suite     Debian   image
#   bookworm  12       berth-debian12-systemd:latest
#   trixie    13       berth-debian13-systemd:latest   (today's stable)
#
# No registry can be reached, so each image is made from Debian's mirror with
# debootstrap and imported into the local Docker engine. The controller's CA
# bundle goes inside, so pip inside the hosts trusts the same TLS proxy the
# controller does. Each image carries a label with the hash of this recipe, its
# suite and the CA bundle, and is rebuilt only when one of those changes.
set -euo pipefail

SUITES="${*:-${BERTH_SUITES:-bookworm trixie}}"
MIRROR="${BERTH_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE="${BERTH_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
TAG="${BERTH_IMAGE_TAG:-latest}"
# The test hosts' bytecode cache for Ansible's module payloads, and their module runs forked from a
# warm interpreter (each module says why).
BYTECODE_HOOK="$(cd "$(dirname "$0")" && pwd)/image/berth_test_bytecode.py"
MODRUN="$(cd "$(dirname "$0")" && pwd)/image/berth_test_modrun.py"
# What every test host has before any role runs: an init, Python for Ansible,
# the tools Testinfra and the health gates use, and sudo and an SSH server for the
# scenarios that log in as production does (sshd stays off unless the create step turns
# it on, see below). The names are the same in 12 and 13.
PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,iproute2,procps,curl,gnupg,sudo,openssh-server"

log() { printf 'build-image: %s\n' "$*" >&2; }

image_for() {
  case "$1" in
    bookworm) echo "berth-debian12-systemd:$TAG" ;;
    trixie) echo "berth-debian13-systemd:$TAG" ;;
    *) log "unknown suite '$1' (known: bookworm = Debian 12, trixie = Debian 13)"; return 1 ;;
  esac
}

ensure_debootstrap() {
  if ! command -v debootstrap >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { log "debootstrap is missing; install it (apt-get install debootstrap) and re-run"; exit 1; }
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  fi
  # debootstrap knows a suite through a script named after it (trixie needs debootstrap >= 1.0.124).
  [ -e "/usr/share/debootstrap/scripts/$1" ] \
    || { log "this debootstrap does not know '$1'; upgrade debootstrap (bookworm's 1.0.128 knows trixie)"; exit 1; }
}

build() {
  local suite=$1 image recipe_hash current work root start
  image=$(image_for "$suite")
  recipe_hash=$( { cat "$0" "$BYTECODE_HOOK" "$MODRUN" "$CA_BUNDLE"; echo "suite=$suite"; } | sha256sum | cut -c1-16)
  current=$(docker image inspect -f '{{ index .Config.Labels "berth.recipe" }}' "$image" 2>/dev/null || true)
  if [ "$current" = "$recipe_hash" ]; then
    log "$image is up to date (recipe $recipe_hash)"
    return 0
  fi
  ensure_debootstrap "$suite"
  start=$(date +%s)

  work=$(mktemp -d /var/tmp/berth-rootfs.XXXXXX)
  # shellcheck disable=SC2064 # expand now: $work is local to this call
  trap "rm -rf '$work'" EXIT
  root="$work/rootfs"

  log "debootstrap $suite into $root (a minute or two)"
  debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

  # Trust what the controller trusts (TLS-inspecting proxies), for apt, curl and pip.
  install -m 0644 "$CA_BUNDLE" "$root/usr/local/share/ca-certificates/berth-controller-bundle.crt"
  install -m 0644 "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"

  # Module runs on a test host compile their payload's sources once, not at every run: the hook
  # loads at each interpreter start, its cache is root's (tools/image/berth_test_bytecode.py).
  install -m 0644 "$BYTECODE_HOOK" "$root/usr/lib/python3/dist-packages/berth_test_bytecode.py"
  echo "import berth_test_bytecode" >"$root/usr/lib/python3/dist-packages/berth-test-bytecode.pth"
  install -d -m 0755 "$root/var/cache/berth-test-bytecode"
  # Module runs as root fork from a process that imported the standard library once (its server
  # unit); any other python3 run goes on as without it (tools/image/berth_test_modrun.py).
  install -m 0644 "$MODRUN" "$root/usr/lib/python3/dist-packages/berth_test_modrun.py"
  echo "import berth_test_modrun; berth_test_modrun.client()" >"$root/usr/lib/python3/dist-packages/berth-test-modrun.pth"
  cat >"$root/etc/systemd/system/berth-test-modrun.service" <<'UNIT'
[Unit]
Description=Test hosts only: module runs forked from a warm interpreter (berth_test_modrun.py)

[Service]
ExecStart=/usr/bin/python3 /usr/lib/python3/dist-packages/berth_test_modrun.py
# A module run outlives a restart of the server (async jobs, their load generators).
KillMode=process
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
  chroot "$root" systemctl enable --quiet berth-test-modrun.service

  cat >"$root/etc/apt/sources.list" <<SOURCES
deb $MIRROR $suite main
deb $MIRROR $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
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
  # sshd is off: a host listens only on what berth deploys there, unless its scenario logs in
  # over SSH (molecule/resources/create.yml turns sshd on for those). No host keys in the
  # image: each host makes its own the first time sshd starts.
  chroot "$root" systemctl disable --quiet ssh.service
  rm -f "$root"/etc/ssh/ssh_host_*
  mkdir -p "$root/etc/systemd/system/ssh.service.d"
  printf '%s\n' '[Service]' 'ExecStartPre=' 'ExecStartPre=/usr/bin/ssh-keygen -A' 'ExecStartPre=/usr/sbin/sshd -t' \
    >"$root/etc/systemd/system/ssh.service.d/berth-host-keys.conf"

  log "importing $image"
  tar -C "$root" -c . | docker import \
    -c "LABEL berth.recipe=$recipe_hash" \
    -c "LABEL berth.suite=$suite" \
    -c 'ENV container=docker' \
    -c 'CMD ["/lib/systemd/systemd"]' \
    - "$image" >/dev/null
  rm -rf "$work"
  trap - EXIT
  log "built $image (recipe $recipe_hash) in $(( $(date +%s) - start )) s"
}

for suite in $SUITES; do
  build "$suite"
done
