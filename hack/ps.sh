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
# The in-cluster Service has the name of MediaMTX's StatefulSet (<fullname>-mediamtx;
# the headless one is a ClusterIP Service too, so the type does not tell them apart).
sts="$(kubectl -n "$ns" get statefulsets -l app.kubernetes.io/component=mediamtx -o name | head -n 1)"
svc="${sts#*/}"
# MediaMTX grants its Control API to the operator's credentials only: read them
# from the chart's internal Secret and ask through a port-forward.
secret="${svc%-mediamtx}-internal"
password="$(kubectl -n "$ns" get secret "$secret" -o jsonpath='{.data.operator-password}' 2>/dev/null | base64 -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
kubectl -n "$ns" port-forward "svc/$svc" "$port:9997" >/dev/null 2>&1 &
forward=$!
trap 'kill "$forward" 2>/dev/null' EXIT
for _ in $(seq 1 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
curl -fsS -u "lso-operator:$password" "http://127.0.0.1:$port/v3/paths/list" 2>/dev/null \
  | python3 "$HACK_DIR/libexec/mediamtx-paths.py" \
  || echo "(MediaMTX Control API not reachable with the operator's credentials)"
