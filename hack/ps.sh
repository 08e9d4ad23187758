#!/usr/bin/env bash
# What runs: LiveStreams, the project's Pods, and MediaMTX's paths.
source "$(dirname "$0")/lib.sh"
export KUBECONFIG="${KUBECONFIG:-$CACHE_DIR/kind-$CLUSTER_NAME.kubeconfig}"
PATH="$(bash "$HACK_DIR/build-tools.sh"):$PATH"
ns="${LSO_NAMESPACE:-livestream}"
kubectl -n "$ns" get livestreams -o wide
echo
kubectl -n "$ns" get pods -o wide
echo
svc="$(kubectl -n "$ns" get svc -l app.kubernetes.io/component=mediamtx \
  -o jsonpath='{range .items[?(@.spec.type=="ClusterIP")]}{.metadata.name}{end}')"
kubectl -n "$ns" get --raw "/api/v1/namespaces/$ns/services/http:$svc:9997/proxy/v3/paths/list" \
  2>/dev/null | python3 "$HACK_DIR/libexec/mediamtx-paths.py" \
  || echo "(MediaMTX Control API not reachable through the API server proxy)"
