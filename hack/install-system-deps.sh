#!/usr/bin/env bash
# Install the system packages the tests and the local cluster need (Debian/Ubuntu).
# Idempotent: does nothing when everything is present.
#
#   hack/install-system-deps.sh [group ...]   groups: media build cluster (default: all)
source "$(dirname "$0")/lib.sh"

groups=("$@"); [ ${#groups[@]} -gt 0 ] || groups=(media build cluster)
pkgs=()
for g in "${groups[@]}"; do
  case "$g" in
    # Real publishers/probes and the worker's GStreamer pipeline.
    media) pkgs+=(ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
                  gstreamer1.0-plugins-bad gstreamer1.0-libav gstreamer1.0-rtsp gir1.2-gstreamer-1.0
                  gir1.2-gst-plugins-base-1.0) ;;
    # PyGObject from PyPI compiles against these; shellcheck for make lint.
    build) pkgs+=(pkg-config libgirepository1.0-dev libcairo2-dev gcc libc6-dev curl shellcheck) ;;
    cluster) pkgs+=(docker.io debootstrap iptables) ;;
    *) die "unknown group $g" ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null || die "apt-get not found; install: ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
