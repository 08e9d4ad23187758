#!/usr/bin/env bash
# Delete the local kind cluster made by hack/up.sh.
#
#   hack/down.sh            delete the cluster (cached binaries and images stay)
#   hack/down.sh --purge    also remove the project's and the node's Docker images
source "$(dirname "$0")/lib.sh"

purge=0
for a in "$@"; do
  case "$a" in
    --purge) purge=1 ;;
    *) die "usage: $0 [--purge]" ;;
  esac
done

if docker info >/dev/null 2>&1; then
  PATH="$(bash "$HACK_DIR/build-tools.sh" kind):$PATH"
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    log "deleting kind cluster $CLUSTER_NAME"
    kind delete cluster --name "$CLUSTER_NAME"
  else
    log "no kind cluster $CLUSTER_NAME"
  fi
  if [ "$purge" = 1 ]; then
    mapfile -t imgs < <(docker images --format '{{.Repository}}:{{.Tag}}' |
      grep -E '^(livestream-operator/|lso\.local/kind-node)' || true)
    [ ${#imgs[@]} -gt 0 ] && docker rmi "${imgs[@]}" >/dev/null && log "removed ${imgs[*]}"
  fi
else
  log "no Docker engine answers; nothing to delete"
fi
rm -f "$CACHE_DIR/kind-$CLUSTER_NAME.kubeconfig"
