#!/usr/bin/env bash
# Provide a kind node image for $CLUSTER_K8S_VERSION and print its name.
#
#   NODE_IMAGE="$(hack/build-node-image.sh)"
#
# Where a registry answers, kindest/node:<version> (or $KIND_NODE_IMAGE, or kind's
# default node image) is used as it is; LSO_BUILD_NODE_IMAGE=1 assembles one anyway. Otherwise
# (no container registry at all) the image is assembled here, without
# `kind build node-image` (which fetches images itself), from images/kind-node/:
#   - Dockerfile: a Debian bookworm rootfs (hack/base-image.sh) with systemd,
#     Debian's containerd/runc and CNI plugins, and files/ copied to / (our
#     entrypoint, units, containerd and CNI configuration, kind's manifests);
#   - kubeadm/kubelet/kubectl from hack/build-k8s.sh, added to files/usr/bin;
#   - the control-plane images that `kubeadm config images list` names, built
#     here as tiny images from component/, kube-proxy/, coredns/ and pause/
#     (FROM scratch, or FROM the Debian base for kube-proxy) and imported into
#     containerd's k8s.io namespace (scripts/preload-images.sh);
#   - a baked CNI config (ptp + host-local + portmap): create the cluster with
#     `networking.disableDefaultCNI: true`, single node, podSubnet 10.244.0.0/16.
# Values known only here are @NAME@ placeholders in those files, filled in by
# `render` (hack/lib.sh) in the build context: @PAUSE_IMAGE@ in
# files/etc/containerd/config.toml, @POD_SUBNET_NODE@ in
# files/etc/cni/net.d/10-lso-ptp.conflist, @BINARY@ in component/Dockerfile and
# @COREDNS_VERSION@ in coredns/go.mod.in; the base image is the Dockerfiles'
# DEBIAN_IMAGE build argument.
# The image name carries a hash of the versions, this script and every file
# under images/kind-node/, so that an edit to any of them builds a new image.
source "$(dirname "$0")/lib.sh"

K8S="$CLUSTER_K8S_VERSION"
NODE_DIR="$REPO_ROOT/images/kind-node"
NODE_HASH="$({ printf '%s %s\n' "$K8S" "$CLUSTER_ETCD_VERSION"; cat "$0"; tree_digest "$NODE_DIR"; } |
  sha256sum | cut -c1-12)"
NODE_IMAGE="${NODE_IMAGE:-lso.local/kind-node:$K8S-$NODE_HASH}"
POD_SUBNET_NODE="${POD_SUBNET_NODE:-10.244.0.0/24}"   # first node's podCIDR of 10.244.0.0/16

bash "$HACK_DIR/docker.sh" >&2

if docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then echo "$NODE_IMAGE"; exit 0; fi
if [ "${LSO_BUILD_NODE_IMAGE:-}" != 1 ]; then
  for official in ${KIND_NODE_IMAGE:-"kindest/node:$K8S" "$KIND_DEFAULT_NODE_IMAGE"}; do
    if try_pull "$official"; then
      [ "$official" = "kindest/node:$K8S" ] || [ -n "${KIND_NODE_IMAGE:-}" ] ||
        log "no kindest/node:$K8S; using kind $KIND_VERSION's default $official"
      echo "$official"; exit 0
    fi
  done
fi

exec 8>"$CACHE_DIR/.node-image.lock"; flock 8
if docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then echo "$NODE_IMAGE"; exit 0; fi

started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/lso-node.XXXXXX")"
build_ctr=""
cleanup() {
  [ -n "$build_ctr" ] && docker rm -f "$build_ctr" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

DEBIAN_IMAGE="$(bash "$HACK_DIR/base-image.sh" debian)"
log "kind node image $NODE_IMAGE (Kubernetes $K8S) FROM $DEBIAN_IMAGE"

# ---- 1. binaries -------------------------------------------------------------
KBIN="$(K8S_VERSION="$K8S" ETCD_VERSION="$CLUSTER_ETCD_VERSION" bash "$HACK_DIR/build-k8s.sh" \
  kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd)"
mapfile -t IMAGES < <("$KBIN/kubeadm" config images list --kubernetes-version "$K8S" 2>/dev/null)
[ ${#IMAGES[@]} -ge 7 ] || die "kubeadm config images list gave: ${IMAGES[*]}"
log "kubeadm $K8S wants: ${IMAGES[*]}"

image_tag() { # $1=short name (kube-apiserver, etcd, coredns, pause)
  local i; for i in "${IMAGES[@]}"; do
    case "${i##*/}" in "$1":*) echo "$i"; return ;; esac
  done
  die "kubeadm does not list $1"
}

go_env() {
  need_go
  export GOSUMDB="${GOSUMDB:-off}" GOFLAGS="${GOFLAGS:--mod=mod}" CGO_ENABLED=0
  GOPROXY="${GOPROXY:-$(go env GOPROXY)}"; export GOPROXY
}

# CoreDNS with only the plugins that images/kind-node/coredns/main.go imports;
# the cached binary is keyed by the version and those sources.
build_coredns() { # $1=version -> path of binary
  local dir; dir="$(bin_dir coredns "$1-slim-$(tree_digest "$NODE_DIR/coredns" | cut -c1-8)")"
  if [ ! -x "$dir/coredns" ]; then
    go_env; mkdir -p "$dir"
    local plugins; plugins="$(sed -n 's#^\s*_ "github.com/coredns/coredns/plugin/\(.*\)"$#\1#p' \
      "$NODE_DIR/coredns/main.go" | tr '\n' ' ')"
    log "building coredns $1 (plugins: ${plugins% }) from the Go module proxy"
    local src; src="$CACHE_DIR/build/coredns-$1"; mkdir -p "$src"
    cp "$NODE_DIR/coredns/main.go" "$src/main.go"
    cp "$NODE_DIR/coredns/go.mod.in" "$src/go.mod"
    render "$src/go.mod" "COREDNS_VERSION=$1"
    (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$dir/coredns.tmp" .) >&2
    mv "$dir/coredns.tmp" "$dir/coredns"
  fi
  echo "$dir/coredns"
}

build_pause() { # $1=version -> path of binary
  local dir; dir="$(bin_dir pause "$1")"
  if [ ! -x "$dir/pause" ]; then
    go_env; apt_ensure gcc:gcc
    [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/libc.a ] || apt_ensure __libc_dev__:libc6-dev
    mkdir -p "$dir"
    # pause.c is read from the k8s.io/kubernetes module zip at build time.
    local moddir
    moddir="$(module_dir "k8s.io/kubernetes@$K8S")"
    [ -f "$moddir/build/pause/linux/pause.c" ] || die "no build/pause/linux/pause.c in k8s.io/kubernetes@$K8S"
    log "compiling pause $1 (gcc -static)"
    gcc -Os -Wall -Werror -static -DVERSION="v$1-lso" -o "$dir/pause.tmp" "$moddir/build/pause/linux/pause.c"
    strip "$dir/pause.tmp" 2>/dev/null || true
    mv "$dir/pause.tmp" "$dir/pause"
  fi
  echo "$dir/pause"
}

crictl_binary() { # prints a path or nothing: crictl is optional
  local dir; dir="$(bin_dir crictl "$CRICTL_VERSION")"
  if [ ! -x "$dir/crictl" ]; then
    mkdir -p "$dir"
    local url="https://github.com/kubernetes-sigs/cri-tools/releases/download/$CRICTL_VERSION/crictl-$CRICTL_VERSION-linux-amd64.tar.gz"
    if have_internet "$url"; then
      curl -fsSL "$url" | tar -xzO crictl >"$dir/crictl.tmp" && chmod +x "$dir/crictl.tmp" && mv "$dir/crictl.tmp" "$dir/crictl"
    else
      go_env
      local gobin; gobin="$(mktemp -d)"
      if GOBIN="$gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" >/dev/null 2>&1; then
        mv "$gobin/crictl" "$dir/crictl"
      else
        log "crictl $CRICTL_VERSION is not on the Go module proxy; the node image goes without it (kind only uses it to skip reloading present images)"
      fi
      rm -rf "$gobin"
    fi
  fi
  if [ -x "$dir/crictl" ]; then echo "$dir/crictl"; fi
}

# ---- 2. control-plane images ---------------------------------------------------
# Pulled where a registry answers; otherwise tiny images built from the binaries
# and images/kind-node/<component>/.
build_image() { # $1=tag $2=context dir (holding a Dockerfile), then docker build options
  local ref="$1" ctx="$2"; shift 2
  docker build "$@" -t "$ref" "$ctx" >"$ctx.log" 2>&1 || { tail -30 "$ctx.log" >&2; die "docker build $ref failed"; }
}

context() { # $1=directory of images/kind-node $2=image name: a fresh copy of it in $work
  local ctx="$work/img-$2"
  rm -rf "$ctx"; cp -R "$NODE_DIR/$1" "$ctx"
  echo "$ctx"
}

component_image() { # $1=full image ref $2=binary name
  local ctx; ctx="$(context component "$2")"
  cp "$KBIN/$2" "$ctx/$2"
  render "$ctx/Dockerfile" "BINARY=$2"
  build_image "$1" "$ctx"
}

kube_proxy_image() { # $1=full image ref
  local ctx; ctx="$(context kube-proxy kube-proxy)"
  cp "$KBIN/kube-proxy" "$ctx/kube-proxy"; chmod +x "$ctx/kube-proxy"
  build_image "$1" "$ctx" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE"
}

etcd_image() { # $1=full image ref (registry.k8s.io/etcd:3.5.x-0)
  local want="${1##*:}"; want="v${want%-*}"
  local have; have="$("$KBIN/etcd" --version 2>/dev/null | sed -n 's/^etcd Version: /v/p')"
  [ "$have" = "$want" ] || log "warning: kubeadm asks for etcd $want but $KBIN/etcd is $have (set CLUSTER_ETCD_VERSION=$want and remove it to rebuild)"
  component_image "$1" etcd
}

coredns_image() { # $1=full image ref
  local ctx; ctx="$(context coredns coredns)"
  cp "$(build_coredns "${1##*:}")" "$ctx/coredns"
  build_image "$1" "$ctx"
}

pause_image() { # $1=full image ref
  local ctx; ctx="$(context pause pause)"
  cp "$(build_pause "${1##*:}")" "$ctx/pause"
  build_image "$1" "$ctx"
}

# An image pulled from a registry is used as it is. One built here before is
# built again (docker's layer cache makes that quick when nothing changed), so
# that an edit under images/kind-node/ reaches it too.
for ref in "${IMAGES[@]}"; do
  if is_pulled_image "$ref" || registry_pull "$ref"; then continue; fi
  name="${ref##*/}"; name="${name%%:*}"
  log "building image $ref"
  case "$name" in
    kube-apiserver|kube-controller-manager|kube-scheduler) component_image "$ref" "$name" ;;
    kube-proxy) kube_proxy_image "$ref" ;;
    etcd) etcd_image "$ref" ;;
    coredns) coredns_image "$ref" ;;
    pause) pause_image "$ref" ;;
    *) die "do not know how to build $ref" ;;
  esac
done
PAUSE_IMAGE="$(image_tag pause)"
log "saving the control-plane images"
docker save -o "$work/images.tar" "${IMAGES[@]}"

# ---- 3. the node rootfs ----------------------------------------------------------
# images/kind-node/ without the control-plane images' directories, plus the binaries.
ctx="$work/node"; mkdir -p "$ctx"
cp "$NODE_DIR/Dockerfile" "$ctx/Dockerfile"; cp -R "$NODE_DIR/files" "$ctx/files"
mkdir -p "$ctx/files/usr/bin" "$ctx/files/usr/local/bin" "$ctx/files/kind"
for b in kubeadm kubelet kubectl; do cp "$KBIN/$b" "$ctx/files/usr/bin/$b"; done
crictl="$(crictl_binary)"
if [ -n "$crictl" ]; then
  cp "$crictl" "$ctx/files/usr/local/bin/crictl"
else
  rm -f "$ctx/files/etc/crictl.yaml"
fi
render "$ctx/files/etc/containerd/config.toml" "PAUSE_IMAGE=$PAUSE_IMAGE"
render "$ctx/files/etc/cni/net.d/10-lso-ptp.conflist" "POD_SUBNET_NODE=$POD_SUBNET_NODE"
printf '%s' "$K8S" >"$ctx/files/kind/version"

log "building the node rootfs"
rootfs_image="lso.local/kind-node-rootfs:$K8S-$NODE_HASH"
build_image "$rootfs_image" "$ctx" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE"

# ---- 4. preload the images into containerd and commit --------------------------
# An unprivileged container without a volume on /var (docker commit drops
# volumes); images/kind-node/scripts/preload-images.sh imports them there.
build_ctr="lso-node-build-$$"
docker run -d --name "$build_ctr" --entrypoint sleep --security-opt seccomp=unconfined \
  "$rootfs_image" infinity >/dev/null
docker cp "$work/images.tar" "$build_ctr:/images.tar"
docker exec -i "$build_ctr" bash -s -- /images.tar <"$NODE_DIR/scripts/preload-images.sh" |
  grep -v '^sha256:' | sed 's/^/[hack]   preloaded /' >&2
# ENV container=docker and STOPSIGNAL carry over from the rootfs image.
docker commit \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint"]' \
  --change 'CMD ["/sbin/init"]' \
  --change "LABEL io.x-k8s.kind.k8s-version=$K8S org.opencontainers.image.title=lso-kind-node" \
  "$build_ctr" "$NODE_IMAGE" >/dev/null
docker rm -f "$build_ctr" >/dev/null; build_ctr=""
# Older builds of the node image (other hashes) are dropped unless a cluster uses them.
docker rmi "$rootfs_image" >/dev/null 2>&1 || true
for old in $(docker images --format '{{.Repository}}:{{.Tag}}' |
             grep -E '^lso\.local/kind-node(-rootfs)?:' | grep -v -- "-$NODE_HASH\$" || true); do
  docker rmi "$old" >/dev/null 2>&1 || true
done
log "built $NODE_IMAGE in $((SECONDS - started)) s"
echo "$NODE_IMAGE"
