#!/usr/bin/env bash
# Follow the operator's, the hook receiver's and MediaMTX's logs on the kind cluster.
source "$(dirname "$0")/lib.sh"
export KUBECONFIG="${KUBECONFIG:-$CACHE_DIR/kind-$CLUSTER_NAME.kubeconfig}"
PATH="$(bash "$HACK_DIR/build-tools.sh"):$PATH"
exec kubectl -n "${LSO_NAMESPACE:-livestream}" logs -f --prefix --max-log-requests 10 \
  --tail 50 -l app.kubernetes.io/part-of=livestream-operator --all-containers
