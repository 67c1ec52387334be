#!/usr/bin/env bash
# docker-base-image.sh: make a local stand-in for debian:bookworm-slim.
#
# The Dockerfiles say `FROM debian:bookworm-slim`. Users pull the real image
# from Docker Hub; machines that cannot reach a registry (CI here) build an
# equivalent one with debootstrap from the Debian mirror apt is configured
# with, and import it under the same name so that no build tries to pull.
#
#   scripts/docker-base-image.sh            # make it if it is missing
#   scripts/docker-base-image.sh --force    # make it again
#
# Needs root, debootstrap and a running Docker engine. Takes about 75 s and
# leaves a ~120 MB image; the temporary tree is removed.
set -euo pipefail

IMAGE=${TEMPO_BASE_IMAGE:-debian:bookworm-slim}
SUITE=bookworm
force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

if [ "$force" = 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE already present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "debootstrap needs root" >&2; exit 1; }

# The Debian mirror from apt's own configuration (one-line or deb822 format).
sources() { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; }
MIRROR=${DEBIAN_MIRROR:-$(sources | grep -oE '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' | head -1 | awk '{print $2}')}
SECURITY=${DEBIAN_SECURITY_MIRROR:-$(sources | grep -oE '^(URIs:|deb) +[a-z]+://[^ ]+/debian-security/?( |$)' | head -1 | awk '{print $2}')}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
[ -n "$MIRROR" ] || { echo "no Debian mirror configured for apt; set DEBIAN_MIRROR" >&2; exit 1; }

root=$(mktemp -d /tmp/tempo-base.XXXXXX)
trap 'rm -rf "$root" "$root.log"' EXIT
echo "debootstrap $SUITE from $MIRROR (log: $root.log)"
if ! debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1; then
  tail -20 "$root.log" >&2
  exit 1
fi

# Make it behave like the official slim image: same apt sources layout, no
# docs/man pages/locales installed by later apt-get runs, apt caches cleaned.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
       "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
       "$root"/var/log/* "$root"/tmp/* 2>/dev/null || true

tar -C "$root" --numeric-owner -c . |
  docker import --change 'CMD ["bash"]' \
    --change 'LABEL tempo.base="debootstrap stand-in for debian:bookworm-slim"' \
    - "$IMAGE" >/dev/null
echo "made $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
