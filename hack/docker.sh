#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine.
#
#   hack/docker.sh            install (apt) and start dockerd if none answers
#
# On hosts whose capability bounding set lacks a capability that Docker asks for
# in `--privileged` containers (seen: CAP_SYS_RESOURCE), `docker run --privileged`
# fails with "unable to apply caps". kind needs privileged node containers, so
# there, and only there, a small runc wrapper is registered as Docker's default
# runtime: it drops the capabilities the host cannot grant from the OCI spec and
# then execs the real runc.
source "$(dirname "$0")/lib.sh"

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
WRAPPER=/usr/local/libexec/livestream-operator/runc-capfilter
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/lso-dockerd.log}"

docker_answers() { docker info >/dev/null 2>&1; }

# Capability numbers the host can not grant (missing from the bounding set),
# among those Docker 20.10+ asks for (0..40).
missing_caps() {
  local bnd; bnd="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
  local n
  for n in $(seq 0 40); do
    if (( (16#$bnd >> n & 1) == 0 )); then echo "$n"; fi
  done
}

install_packages() {
  local pkgs=()
  command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
  command -v docker >/dev/null 2>&1 || pkgs+=(docker.io)
  [ -x /usr/bin/python3 ] || pkgs+=(python3)   # the runc wrapper runs with it
  [ ${#pkgs[@]} -eq 0 ] && return 0
  log "installing ${pkgs[*]} with apt"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

write_wrapper() {
  local real_runc; real_runc="$(command -v runc || echo /usr/sbin/runc)"
  local tmp; tmp="$(mktemp)"
  # hack/libexec/runc-capfilter (this project's own), with the real runc's path
  # filled in: it drops from every capability list of the OCI runtime spec the
  # capabilities the bounding set lacks, then execs the real runc.
  cp "$HACK_DIR/libexec/runc-capfilter" "$tmp"
  render "$tmp" "REAL_RUNC=$real_runc"
  # Rewritten only when it changed: dockerd may be running it right now.
  if ! cmp -s "$tmp" "$WRAPPER"; then
    $SUDO mkdir -p "$(dirname "$WRAPPER")"
    $SUDO install -m 0755 "$tmp" "$WRAPPER"
  fi
  rm -f "$tmp"
}

# Register the wrapper as Docker's default runtime (merging into daemon.json).
register_wrapper() {
  $SUDO mkdir -p /etc/docker
  $SUDO /usr/bin/python3 "$HACK_DIR/libexec/docker-default-runtime.py" /etc/docker/daemon.json "$WRAPPER"
}

start_dockerd() {
  if command -v systemctl >/dev/null 2>&1 && [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
    log "starting docker with systemctl"
    $SUDO systemctl start docker || true
  fi
  if ! docker_answers; then
    log "starting dockerd in the background (log: $DOCKERD_LOG)"
    # containerd is started by dockerd itself when none is configured.
    $SUDO sh -c "nohup dockerd >>'$DOCKERD_LOG' 2>&1 &"
  fi
  local _
  for _ in $(seq 1 60); do docker_answers && return 0; sleep 1; done
  tail -20 "$DOCKERD_LOG" >&2 || true
  die "dockerd did not answer within 60 s"
}

stop_dockerd() {
  local pid; pid="$(pgrep -x dockerd || true)"
  [ -n "$pid" ] || return 0
  log "restarting dockerd (pid $pid) to load the new runtime"
  $SUDO kill "$pid"
  local _; for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
  die "dockerd (pid $pid) did not stop"
}

main() {
  install_packages
  local need_wrapper=0
  if [ -n "$(missing_caps)" ]; then
    need_wrapper=1
    log "capability bounding set lacks cap(s) $(missing_caps | tr '\n' ' ')- using the runc capability filter"
    write_wrapper
    if [ "$(register_wrapper)" = changed ] && docker_answers; then
      stop_dockerd
    fi
  fi
  docker_answers || start_dockerd
  if [ "$need_wrapper" = 1 ] && ! docker info --format '{{.DefaultRuntime}}' 2>/dev/null | grep -qx lso-runc; then
    # A running engine that we did not configure (e.g. started before the wrapper existed).
    stop_dockerd; start_dockerd
  fi
  log "docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) answers (default runtime: $(docker info --format '{{.DefaultRuntime}}' 2>/dev/null))"
}

main "$@"
