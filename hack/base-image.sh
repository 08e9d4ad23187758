#!/usr/bin/env bash
# Provide the Debian bookworm base images the project's Dockerfiles build FROM.
#
#   hack/base-image.sh debian   prints the image to use for debian:bookworm-slim
#   hack/base-image.sh python   prints the image to use for python:3.11-slim-bookworm
#   hack/base-image.sh          prints DEBIAN_IMAGE=... and PYTHON_IMAGE=... lines
#
# Where a registry answers, the official images are pulled and used as they are.
# Otherwise an equivalent is made here: `debootstrap --variant=minbase bookworm`
# imported with `docker import` (rootfs tarball cached in $CACHE_DIR/images), and a
# python image FROM it with Debian's python3 (3.11, like the official one).
# The host's CA bundle is baked in, so that pip and apt over HTTPS work in builds
# behind a proxy that re-signs TLS.
source "$(dirname "$0")/lib.sh"

LOCAL_DEBIAN_IMAGE="lso.local/debian:bookworm-slim"
LOCAL_PYTHON_IMAGE="lso.local/python:3.11-slim-bookworm"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

host_ca_bundle() {
  local f
  for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    [ -s "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

build_rootfs_tar() { # $1=tar path
  apt_ensure debootstrap:debootstrap
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  local root; root="$(mktemp -d "$CACHE_DIR/build/rootfs.XXXXXX")"
  log "debootstrap --variant=minbase bookworm (about 30-60 s)"
  $sudo debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$DEBIAN_MIRROR" \
    >"$CACHE_DIR/build/debootstrap.log" 2>&1 || { tail -20 "$CACHE_DIR/build/debootstrap.log" >&2; die "debootstrap failed"; }
  # images/base/files/ on top: the same apt sources as the official image
  # (deb822, @DEBIAN_MIRROR@ and @DEBIAN_SECURITY_MIRROR@ filled in) and, to keep
  # images small, no docs, man pages or translations from later installs, no
  # recommends, no apt caches (what the slim images do too).
  local files; files="$(mktemp -d)"
  cp -R "$REPO_ROOT/images/base/files/." "$files/"
  render "$files/etc/apt/sources.list.d/debian.sources" \
    "DEBIAN_MIRROR=$DEBIAN_MIRROR" "DEBIAN_SECURITY_MIRROR=${DEBIAN_MIRROR%/debian}/debian-security"
  $sudo rm -f "$root/etc/apt/sources.list"
  $sudo cp -R "$files/." "$root/"
  rm -rf "$files"
  # Host CA bundle: as the bundle itself and as a local CA file, so that
  # update-ca-certificates (run by later installs of ca-certificates) keeps it.
  local ca
  if ca="$(host_ca_bundle)"; then
    $sudo mkdir -p "$root/etc/ssl/certs" "$root/usr/local/share/ca-certificates"
    $sudo cp "$ca" "$root/usr/local/share/ca-certificates/lso-host-bundle.crt"
    $sudo cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
  fi
  $sudo rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/var/log/* "$root"/tmp/*
  $sudo tar --numeric-owner -C "$root" -cf "$1.tmp" .
  $sudo rm -rf "$root"
  mv "$1.tmp" "$1"
}

ensure_local_debian() {
  docker image inspect "$LOCAL_DEBIAN_IMAGE" >/dev/null 2>&1 && return 0
  mkdir -p "$CACHE_DIR/images" "$CACHE_DIR/build"
  local tar="$CACHE_DIR/images/debian-bookworm-minbase.tar"
  [ -s "$tar" ] || build_rootfs_tar "$tar"
  log "docker import $LOCAL_DEBIAN_IMAGE"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    "$tar" "$LOCAL_DEBIAN_IMAGE" >/dev/null
}

ensure_local_python() {
  docker image inspect "$LOCAL_PYTHON_IMAGE" >/dev/null 2>&1 && return 0
  ensure_local_debian
  log "building $LOCAL_PYTHON_IMAGE (Debian's python3 3.11)"
  docker build -q --build-arg "DEBIAN_IMAGE=$LOCAL_DEBIAN_IMAGE" -t "$LOCAL_PYTHON_IMAGE" - \
    <"$REPO_ROOT/images/base/python.Dockerfile" >/dev/null
}

debian_image() {
  if try_pull "$OFFICIAL_DEBIAN_IMAGE"; then echo "$OFFICIAL_DEBIAN_IMAGE"; return; fi
  ensure_local_debian; echo "$LOCAL_DEBIAN_IMAGE"
}

python_image() {
  if try_pull "$OFFICIAL_PYTHON_IMAGE"; then echo "$OFFICIAL_PYTHON_IMAGE"; return; fi
  ensure_local_python; echo "$LOCAL_PYTHON_IMAGE"
}

case "${1:-all}" in
  debian) debian_image ;;
  python) python_image ;;
  all) echo "DEBIAN_IMAGE=$(debian_image)"; echo "PYTHON_IMAGE=$(python_image)" ;;
  *) die "usage: $0 [debian|python]" ;;
esac
