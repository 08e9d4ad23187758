#!/usr/bin/env bash
# Bring the whole system up on a local single-node kind cluster and stream through it.
#
#   hack/up.sh
#
# Steps: Docker engine -> kind/helm/kubectl -> node image -> cluster (the RTMP,
# RTSP, SRT, playback and HLS NodePorts mapped to the host) -> project images built and loaded -> chart
# installed -> a short demo stream published with ffmpeg -> `kubectl get livestreams`.
#
# Settings (environment):
#   CLUSTER_NAME        kind cluster name (livestream)
#   LSO_RELEASE_NAMESPACE  namespace of the release (else LSO_NAMESPACE; default livestream)
#   LSO_RELEASE         Helm release name (livestream-operator)
#   LSO_RTMP_HOST_PORT  host port publishers use (1935)
#   LSO_HOST_ADDRESS    host address the port listens on (127.0.0.1; 0.0.0.0 for the LAN)
#   LSO_RTMP_NODE_PORT  the RTMP Service's NodePort inside the cluster (31935)
#   LSO_RTSP_HOST_PORT, LSO_RTSP_NODE_PORT  the same for RTSP, TCP (8554, 30554)
#   LSO_SRT_HOST_PORT, LSO_SRT_NODE_PORT    the same for SRT, UDP (8890, 30890)
#   LSO_PLAYBACK_HOST_PORT, LSO_PLAYBACK_NODE_PORT  the same for MediaMTX's playback
#                       server, recording downloads, TCP (9996, 31996)
#   LSO_HLS_HOST_PORT, LSO_HLS_NODE_PORT  the same for MediaMTX's HLS server, live
#                       playback, TCP (8888, 31888); port mappings apply when the
#                       cluster is created (hack/down.sh first)
#   LSO_RECORDINGS_NODE_PATH  directory inside the kind node holding the recordings
#                       (/var/lib/livestream-operator/recordings; a hostPath PV)
#   LSO_HELM_ARGS       extra arguments for helm upgrade --install
#   LSO_SKIP_DEMO=1     do not publish the demo stream
#   LSO_DEMO_SECONDS    length of the demo stream (20)
source "$(dirname "$0")/lib.sh"

NAMESPACE="${LSO_RELEASE_NAMESPACE:-${LSO_NAMESPACE:-livestream}}"
RELEASE="${LSO_RELEASE:-livestream-operator}"
RTMP_HOST_PORT="${LSO_RTMP_HOST_PORT:-1935}"
HOST_ADDRESS="${LSO_HOST_ADDRESS:-127.0.0.1}"
RTMP_NODE_PORT="${LSO_RTMP_NODE_PORT:-31935}"
RTSP_HOST_PORT="${LSO_RTSP_HOST_PORT:-8554}"
RTSP_NODE_PORT="${LSO_RTSP_NODE_PORT:-30554}"
SRT_HOST_PORT="${LSO_SRT_HOST_PORT:-8890}"
SRT_NODE_PORT="${LSO_SRT_NODE_PORT:-30890}"
PLAYBACK_HOST_PORT="${LSO_PLAYBACK_HOST_PORT:-9996}"
PLAYBACK_NODE_PORT="${LSO_PLAYBACK_NODE_PORT:-31996}"
HLS_HOST_PORT="${LSO_HLS_HOST_PORT:-8888}"
HLS_NODE_PORT="${LSO_HLS_NODE_PORT:-31888}"
# In the node container (its /var is a volume of its own): survives node and
# MediaMTX restarts, goes with the cluster (hack/down.sh).
RECORDINGS_NODE_PATH="${LSO_RECORDINGS_NODE_PATH:-/var/lib/livestream-operator/recordings}"
DEMO_SECONDS="${LSO_DEMO_SECONDS:-20}"
KUBECONFIG_FILE="$CACHE_DIR/kind-$CLUSTER_NAME.kubeconfig"

t_start=$SECONDS
step() { log "[$((SECONDS - t_start))s] $*"; }

step "docker engine"
bash "$HACK_DIR/docker.sh"

step "kind, helm, kubectl"
PATH="$(bash "$HACK_DIR/build-tools.sh"):$PATH"; export PATH

step "kind node image"
NODE_IMAGE="$(bash "$HACK_DIR/build-node-image.sh")"
log "node image: $NODE_IMAGE"

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  step "kind cluster $CLUSTER_NAME exists; reusing it (hack/down.sh removes it)"
  # After a reboot or a Docker restart the node container may be stopped.
  docker start "$CLUSTER_NAME-control-plane" >/dev/null
  # A node image rebuilt since (its tag follows images/kind-node/ and the
  # versions) only takes effect in a new cluster.
  running="$(docker inspect -f '{{.Config.Image}}' "$CLUSTER_NAME-control-plane" 2>/dev/null || true)"
  if [ -n "$running" ] && [ "$running" != "$NODE_IMAGE" ]; then
    log "warning: the cluster's node runs $running, not $NODE_IMAGE; hack/down.sh, then hack/up.sh, to move to it"
  fi
else
  step "creating kind cluster $CLUSTER_NAME"
  cfg="$(mktemp)"
  {
    echo "kind: Cluster"
    echo "apiVersion: kind.x-k8s.io/v1alpha4"
    echo "networking:"
    echo "  podSubnet: 10.244.0.0/16"
    # The locally assembled node image has its CNI baked in (no kindnetd image).
    case "$NODE_IMAGE" in kindest/*) ;; *) echo "  disableDefaultCNI: true" ;; esac
    echo "nodes:"
    echo "  - role: control-plane"
    echo "    image: $NODE_IMAGE"
    echo "    extraPortMappings:"
    for mapping in "$RTMP_NODE_PORT:$RTMP_HOST_PORT:TCP" "$RTSP_NODE_PORT:$RTSP_HOST_PORT:TCP" \
      "$SRT_NODE_PORT:$SRT_HOST_PORT:UDP" "$PLAYBACK_NODE_PORT:$PLAYBACK_HOST_PORT:TCP" \
      "$HLS_NODE_PORT:$HLS_HOST_PORT:TCP"; do
      IFS=: read -r node_port host_port protocol <<<"$mapping"
      echo "      - containerPort: $node_port"
      echo "        hostPort: $host_port"
      echo "        listenAddress: \"$HOST_ADDRESS\""
      echo "        protocol: $protocol"
    done
  } >"$cfg"
  kind create cluster --name "$CLUSTER_NAME" --config "$cfg" --wait 0s
  rm -f "$cfg"
fi
(umask 077 && kind get kubeconfig --name "$CLUSTER_NAME" >"$KUBECONFIG_FILE")
export KUBECONFIG="$KUBECONFIG_FILE"
# A restarted API server answers before its RBAC caches are warm (Forbidden).
for _ in $(seq 120); do
  kubectl get nodes >/dev/null 2>&1 && break
  sleep 2
done
kubectl wait node --all --for=condition=Ready --timeout=300s
kubectl -n kube-system rollout status deployment/coredns --timeout=300s

publish_host="$HOST_ADDRESS"; [ "$HOST_ADDRESS" = 0.0.0.0 ] && publish_host=127.0.0.1
# Where this host reaches a NodePort: the host port kind maps to it, else (a
# cluster created before that mapping existed; kind cannot add one later) the
# node container's address and the NodePort, as tests/e2e does.
reach() { # <node port> <tcp|udp> <host port>
  local mapped ip
  mapped="$(docker port "$CLUSTER_NAME-control-plane" "$1/$2" 2>/dev/null | head -n1 || true)"
  if [ -n "$mapped" ]; then
    case "$mapped" in 0.0.0.0:* | "[::]:"*) mapped="127.0.0.1:${mapped##*:}" ;; esac
    echo "$mapped"
    return
  fi
  ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' \
    "$CLUSTER_NAME-control-plane" 2>/dev/null | awk '{print $1}' || true)"
  if [ -n "$ip" ]; then
    log "NodePort $1/$2 is not mapped to the host (the cluster predates the mapping): using the node's address $ip:$1; hack/down.sh, then hack/up.sh, maps it to $3"
    echo "$ip:$1"
  else
    echo "$publish_host:$3"
  fi
}
rtsp_at="$(reach "$RTSP_NODE_PORT" tcp "$RTSP_HOST_PORT")"
srt_at="$(reach "$SRT_NODE_PORT" udp "$SRT_HOST_PORT")"
playback_at="$(reach "$PLAYBACK_NODE_PORT" tcp "$PLAYBACK_HOST_PORT")"
hls_at="$(reach "$HLS_NODE_PORT" tcp "$HLS_HOST_PORT")"

step "project images"
mapfile -t images < <(bash "$HACK_DIR/build-images.sh" --load)
# A hash of the image ids: a rebuilt image rolls the Deployments and MediaMTX's
# StatefulSet out again even though the tag is the same.
images_hash="$(for i in "${images[@]}"; do docker image inspect -f '{{.Id}}' "$i"; done | sha256sum | cut -c1-16)"

step "chart (with the CRD)"
# The chart ships the CRD as a template (crds.enabled), so helm upgrade updates it.
# A CRD applied before that (the chart's old crds/ directory, kubectl apply) is
# not the release's: adopt it by giving it Helm's ownership metadata, or the
# upgrade fails with "invalid ownership metadata". So is one kept (crds.keep) by
# a release since uninstalled. One owned by another installed release is left
# alone (that release manages it: pass --set crds.enabled=false).
adopt_crd() {
  local crd=livestreams.media.livestream-operator.dev owner
  kubectl get crd "$crd" >/dev/null 2>&1 || return 0
  owner="$(kubectl get crd "$crd" -o jsonpath='{.metadata.annotations.meta\.helm\.sh/release-namespace}/{.metadata.annotations.meta\.helm\.sh/release-name}')"
  if [ "$owner" != "$NAMESPACE/$RELEASE" ]; then
    if [ "$owner" != / ] && helm status "${owner#*/}" --namespace "${owner%%/*}" >/dev/null 2>&1; then
      log "CRD $crd belongs to release $owner; not adopting it"
      return 0
    fi
    log "adopting CRD $crd into release $NAMESPACE/$RELEASE"
    kubectl annotate crd "$crd" --overwrite \
      "meta.helm.sh/release-name=$RELEASE" "meta.helm.sh/release-namespace=$NAMESPACE" >/dev/null
  fi
  kubectl label crd "$crd" --overwrite app.kubernetes.io/managed-by=Helm >/dev/null
}
adopt_crd
# shellcheck disable=SC2086
helm upgrade --install "$RELEASE" "$REPO_ROOT/charts/livestream-operator" \
  --namespace "$NAMESPACE" --create-namespace \
  --set-string "image.tag=$LSO_IMAGE_TAG" \
  --set "mediamtx.rtmp.service.nodePort=$RTMP_NODE_PORT" \
  --set "mediamtx.rtsp.service.nodePort=$RTSP_NODE_PORT" \
  --set "mediamtx.srt.service.nodePort=$SRT_NODE_PORT" \
  --set-string "recording.persistence.hostPath=$RECORDINGS_NODE_PATH" \
  --set "playback.service.enabled=true" \
  --set "playback.service.nodePort=$PLAYBACK_NODE_PORT" \
  --set-string "playback.publicUrls.rtmp=rtmp://$publish_host:$RTMP_HOST_PORT" \
  --set-string "playback.publicUrls.rtsp=rtsp://$rtsp_at" \
  --set-string "playback.publicDownloadUrl=http://$playback_at" \
  --set "playback.hls.enabled=true" \
  --set "playback.hls.service.nodePort=$HLS_NODE_PORT" \
  --set-string "playback.publicUrls.hls=http://$hls_at" \
  --set-string "operator.podAnnotations.livestream-operator\.dev/images=$images_hash" \
  --set-string "hooks.podAnnotations.livestream-operator\.dev/images=$images_hash" \
  --set-string "mediamtx.podAnnotations.livestream-operator\.dev/images=$images_hash" \
  --set-string "backends.podAnnotations.livestream-operator\.dev/images=$images_hash" \
  ${LSO_HELM_ARGS:-}
# Every workload of the release: the Deployments (operator, hooks, the enabled
# backends) and MediaMTX's StatefulSet.
for d in $(kubectl -n "$NAMESPACE" get deployments,statefulsets -l "app.kubernetes.io/instance=$RELEASE" -o name); do
  kubectl -n "$NAMESPACE" rollout status "$d" --timeout=300s
done

server="rtmp://$publish_host:$RTMP_HOST_PORT"
# The demo stream's key (a Secret the receivers watch), made or rotated by the
# project's own CLI, which prints the OBS settings.
keys() {
  "${PYTHON:-$REPO_ROOT/.venv/bin/python}" -m livestream_operator keys \
    --namespace "$NAMESPACE" --server "$server" "$@"
}
demo_settings="$(keys rotate demo 2>/dev/null || keys create demo)"
demo_key="$(kubectl -n "$NAMESPACE" get secret lso-key-demo -o jsonpath='{.data.streamKey}' | base64 -d)"
url="$server/live/demo/in?key=$demo_key"
if [ "${LSO_SKIP_DEMO:-}" != 1 ]; then
  step "demo: publishing ${DEMO_SECONDS}s of test video to $server/live/demo/in (with its key)"
  apt_ensure ffmpeg:ffmpeg
  ffmpeg -hide_banner -loglevel error -re \
    -f lavfi -i "testsrc2=size=640x360:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=44100" \
    -t "$DEMO_SECONDS" -c:v libx264 -preset ultrafast -tune zerolatency -g 30 -pix_fmt yuv420p \
    -c:a aac -b:a 96k -f flv "$url" &
  ffmpeg_pid=$!
  for _ in $(seq 1 $((DEMO_SECONDS * 2))); do
    phase="$(kubectl -n "$NAMESPACE" get livestreams demo -o jsonpath='{.status.phase}' 2>/dev/null || true)"
    [ "$phase" = Live ] && break
    kill -0 "$ffmpeg_pid" 2>/dev/null || break
    sleep 0.5
  done
  kubectl -n "$NAMESPACE" get livestreams
  kubectl -n "$NAMESPACE" get pods -l app.kubernetes.io/managed-by=livestream-operator
  wait "$ffmpeg_pid" || log "ffmpeg exited with status $? (is the NodePort mapped? see kubectl -n $NAMESPACE get svc)"
fi

# The chart's object names: <release>-livestream-operator-<component>, or
# <release>-<component> when the release name holds the chart's (lso.fullname).
case "$RELEASE" in *livestream-operator*) fullname="$RELEASE" ;; *) fullname="$RELEASE-livestream-operator" ;; esac

step "up"
cat >&2 <<EOF

  Cluster:    kind $CLUSTER_NAME   (export KUBECONFIG=$KUBECONFIG_FILE)
  Keys:       .venv/bin/livestream-operator keys --namespace $NAMESPACE create <streamId>
              (prints the OBS server and stream key; ffmpeg: .../live/<streamId>/in?key=sk_...)
  RTMP:       $server/live/<streamId>/in?key=sk_...
  RTSP:       rtsp://publisher:sk_...@$rtsp_at/live/<streamId>/in   (ffmpeg -f rtsp -rtsp_transport tcp)
  SRT:        srt://$srt_at?streamid=publish:live/<streamId>/in:publisher:sk_...&pkt_size=1316   (ffmpeg -f mpegts)
  Playback:   http://$playback_at   (recording downloads; list: GET /v1/streams/<streamId>/recordings
              on the receiver: kubectl -n $NAMESPACE port-forward svc/$fullname-hooks 8081)
  HLS:        http://$hls_at/live/<streamId>/out/index.m3u8?key=sk_...   (ffplay, VLC;
              in a browser: http://$hls_at/live/<streamId>/out/?key=sk_...)
  Watch:      kubectl -n $NAMESPACE get livestreams -w
  Check:      helm test $RELEASE -n $NAMESPACE
  Tear down:  hack/down.sh
EOF
printf '\n%s\n\n' "$demo_settings" >&2
kubectl -n "$NAMESPACE" get livestreams
