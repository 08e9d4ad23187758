#!/usr/bin/env bash
# Provide a kind node image for $CLUSTER_K8S_VERSION and print its name.
#
#   NODE_IMAGE="$(hack/build-node-image.sh)"
#
# Where a registry answers, kindest/node:<version> (or $KIND_NODE_IMAGE, or kind's
# default node image) is used as it is; LSO_BUILD_NODE_IMAGE=1 assembles one anyway. Otherwise
# (no container registry at all) the image is assembled here, without
# `kind build node-image` (which fetches images itself):
#   - a Debian bookworm rootfs (hack/base-image.sh) with systemd, Debian's
#     containerd/runc and CNI plugins, and our own entrypoint and units;
#   - kubeadm/kubelet/kubectl from hack/build-k8s.sh;
#   - the control-plane images that `kubeadm config images list` names, built
#     here as tiny images (FROM scratch, or FROM the Debian base for kube-proxy)
#     and imported into containerd's k8s.io namespace;
#   - a baked CNI config (ptp + host-local + portmap): create the cluster with
#     `networking.disableDefaultCNI: true`, single node, podSubnet 10.244.0.0/16.
# The image name carries a hash of this script and the versions, so an edit rebuilds it.
source "$(dirname "$0")/lib.sh"

K8S="$CLUSTER_K8S_VERSION"
SCRIPT_HASH="$(printf '%s %s\n' "$K8S" "$CLUSTER_ETCD_VERSION" | cat - "$0" | sha256sum | cut -c1-12)"
NODE_IMAGE="${NODE_IMAGE:-lso.local/kind-node:$K8S-$SCRIPT_HASH}"
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

# Only the plugins a kubeadm Corefile uses (and a few that users commonly add):
# the full plugin set drags in the AWS, Azure and Google Cloud SDKs and triples
# the build time. Plugins register themselves from init(), so importing them is
# all a main package needs.
COREDNS_PLUGINS=(errors health ready kubernetes metrics forward cache loop reload loadbalance
  log hosts rewrite template whoami)

build_coredns() { # $1=version -> path of binary
  local dir; dir="$(bin_dir coredns "$1-slim")"
  if [ ! -x "$dir/coredns" ]; then
    go_env; mkdir -p "$dir"
    log "building coredns $1 (plugins: ${COREDNS_PLUGINS[*]}) from the Go module proxy"
    local src; src="$CACHE_DIR/build/coredns-$1"; mkdir -p "$src"
    printf 'module lso.local/corednsbuild\ngo 1.22\nrequire github.com/coredns/coredns %s\n' "$1" >"$src/go.mod"
    {
      echo 'package main'
      echo 'import ('
      echo '	_ "github.com/coredns/coredns/core/dnsserver"'
      local p; for p in "${COREDNS_PLUGINS[@]}"; do echo "	_ \"github.com/coredns/coredns/plugin/$p\""; done
      echo '	"github.com/coredns/coredns/coremain"'
      echo ')'
      echo 'func main() { coremain.Run() }'
    } >"$src/main.go"
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
    moddir="$(cd "$(mktemp -d)" && go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
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
  [ -x "$dir/crictl" ] && echo "$dir/crictl" || true
}

# ---- 2. control-plane images ---------------------------------------------------
# Pulled where a registry answers; otherwise tiny images built from the binaries.
build_image() { # $1=tag $2=context dir (holding a Dockerfile)
  docker build -t "$1" "$2" >"$2.log" 2>&1 || { tail -30 "$2.log" >&2; die "docker build $1 failed"; }
}

component_image() { # $1=full image ref $2=binary name
  local ref="$1" name="$2" ctx="$work/img-$2"
  mkdir -p "$ctx"; cp "$KBIN/$name" "$ctx/$name"
  cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY $name /usr/local/bin/$name
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENTRYPOINT ["/usr/local/bin/$name"]
EOF
  build_image "$ref" "$ctx"
}

kube_proxy_image() { # $1=full image ref
  local ctx="$work/img-kube-proxy"
  mkdir -p "$ctx"; cp "$KBIN/kube-proxy" "$ctx/kube-proxy"
  # kube-proxy runs in the node's network namespace and must use the same
  # iptables backend (legacy or nft) as whatever already wrote rules there
  # (docker, the node's CNI plugins): pick the one holding more rules.
  cat >"$ctx/iptables-auto" <<'EOF'
#!/bin/sh
# Dispatch iptables* / ip6tables* to the backend (legacy or nft) that already
# holds the rules of this network namespace; decided once per container.
mode_file=/run/lso-iptables-mode
if [ ! -s "$mode_file" ]; then
  legacy=$( (xtables-legacy-multi iptables-save; xtables-legacy-multi ip6tables-save) 2>/dev/null | grep -c '^-')
  nft=$( (timeout 5 xtables-nft-multi iptables-save; timeout 5 xtables-nft-multi ip6tables-save) 2>/dev/null | grep -c '^-')
  if [ "${legacy:-0}" -gt "${nft:-0}" ]; then echo legacy; else echo nft; fi >"$mode_file"
fi
exec "xtables-$(cat "$mode_file")-multi" "$(basename "$0")" "$@"
EOF
  cat >"$ctx/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
RUN apt-get update \\
 && apt-get install -y --no-install-recommends iptables conntrack ipset kmod \\
 && rm -rf /var/lib/apt/lists/*
COPY iptables-auto /usr/local/sbin/iptables-auto
RUN chmod 0755 /usr/local/sbin/iptables-auto && mkdir -p /run \\
 && for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do \\
      ln -sf /usr/local/sbin/iptables-auto /usr/local/sbin/\$t; done
COPY kube-proxy /usr/local/bin/kube-proxy
ENTRYPOINT ["/usr/local/bin/kube-proxy"]
EOF
  chmod +x "$ctx/kube-proxy"
  build_image "$1" "$ctx"
}

etcd_image() { # $1=full image ref (registry.k8s.io/etcd:3.5.x-0)
  local want="${1##*:}"; want="v${want%-*}"
  local have; have="$("$KBIN/etcd" --version 2>/dev/null | sed -n 's/^etcd Version: /v/p')"
  [ "$have" = "$want" ] || log "warning: kubeadm asks for etcd $want but $KBIN/etcd is $have (set CLUSTER_ETCD_VERSION=$want and remove it to rebuild)"
  component_image "$1" etcd
}

coredns_image() { # $1=full image ref
  local ctx="$work/img-coredns"; mkdir -p "$ctx"
  cp "$(build_coredns "${1##*:}")" "$ctx/coredns"
  printf 'FROM scratch\nCOPY coredns /coredns\nEXPOSE 53 53/udp\nENTRYPOINT ["/coredns"]\n' >"$ctx/Dockerfile"
  build_image "$1" "$ctx"
}

pause_image() { # $1=full image ref
  local ctx="$work/img-pause"; mkdir -p "$ctx"
  cp "$(build_pause "${1##*:}")" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
  build_image "$1" "$ctx"
}

for ref in "${IMAGES[@]}"; do
  if docker image inspect "$ref" >/dev/null 2>&1 || try_pull "$ref"; then continue; fi
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
ctx="$work/node"; mkdir -p "$ctx/files/usr/bin" "$ctx/files/usr/local/bin"
for b in kubeadm kubelet kubectl; do cp "$KBIN/$b" "$ctx/files/usr/bin/$b"; done
crictl="$(crictl_binary)"; [ -n "$crictl" ] && cp "$crictl" "$ctx/files/usr/local/bin/crictl"

put() { # $1=path under / ; content on stdin
  mkdir -p "$ctx/files$(dirname "$1")"; cat >"$ctx/files$1"
}

put /usr/local/bin/entrypoint <<'EOF'
#!/bin/bash
# Entrypoint of the livestream-operator kind node image: prepares the
# container for systemd, containerd and kubelet, then execs init (PID 1).
set -o errexit -o nounset -o pipefail
say() { echo "lso-node: $*"; }

# systemd expects a read-only /sys in a container; mounts must propagate for kubelet.
mount -o remount,ro /sys || say "could not remount /sys read-only"
mount --make-rshared /

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  say "cgroup v2"
else
  say "detected cgroup v1"
  own="$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' /proc/self/cgroup)"
  [ "$own" = "/" ] || say "warning: no private cgroup namespace (own cgroup $own); use --cgroupns=private"
  # runc does not know the misc controller on cgroup v1: hide it.
  if [ -d /sys/fs/cgroup/misc ]; then
    umount /sys/fs/cgroup/misc && rmdir /sys/fs/cgroup/misc || true
    grep -v '^misc' /proc/cgroups >/run/lso-cgroups && mount --bind /run/lso-cgroups /proc/cgroups || true
  fi
  mount --make-rprivate /sys/fs/cgroup
  # kubelet runs with cgroupRoot /kubelet (kubelet.slice with the systemd
  # driver): create it in every hierarchy, pinned by a bind mount so that
  # systemd does not remove it before kubelet starts.
  for d in $(findmnt -lun -o target -t cgroup); do
    for sub in kubelet kubelet.slice; do
      mkdir -p "$d/$sub"
      if [ "$(basename "$d")" = cpuset ]; then
        cat "$d/cpuset.cpus" >"$d/$sub/cpuset.cpus"
        cat "$d/cpuset.mems" >"$d/$sub/cpuset.mems"
      fi
      mount --bind "$d/$sub" "$d/$sub"
    done
  done
fi

# A fresh identity per node container.
rm -f /etc/machine-id && systemd-machine-id-setup >/dev/null
mkdir -p /kind
[ -s /kind/product_uuid ] || cat /proc/sys/kernel/random/uuid >/kind/product_uuid
for f in /sys/class/dmi/id/product_uuid /sys/devices/virtual/dmi/id/product_uuid; do
  [ -f "$f" ] && mount -o ro,bind /kind/product_uuid "$f" || true
done

# Use the iptables backend that already holds rules in this namespace (docker's).
legacy=$( (iptables-legacy-save; ip6tables-legacy-save) 2>/dev/null | grep -c '^-' || true)
nft=$( (timeout 5 iptables-nft-save; timeout 5 ip6tables-nft-save) 2>/dev/null | grep -c '^-' || true)
mode=nft; [ "${legacy:-0}" -gt "${nft:-0}" ] && mode=legacy
say "iptables backend: $mode"
update-alternatives --set iptables "/usr/sbin/iptables-$mode" >/dev/null
update-alternatives --set ip6tables "/usr/sbin/ip6tables-$mode" >/dev/null

# Without CAP_SYS_RESOURCE (some hosts' bounding sets lack it) no process may
# lower its oom_score_adj: runc would fail to start every critical pod. Let
# containerd clamp the value to its own instead.
bnd="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
if (( (16#$bnd >> 24 & 1) == 0 )); then
  say "no CAP_SYS_RESOURCE: containerd restricts oom_score_adj"
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
fi

sysctl -qw net.ipv4.ip_forward=1 || true

ipv4="$(getent ahostsv4 "$(hostname)" | awk 'NR==1 {print $1}' || true)"

# DNS for pods: Docker's embedded resolver (127.0.0.11 on a user-defined
# network) answers only on this namespace's loopback, and CoreDNS forwarding to
# 127.0.0.11 inside its own Pod would loop to itself. Offer the resolver on the
# node's address too, and make that the node's (and so CoreDNS') upstream.
if [ -n "$ipv4" ] && { [ -f /kind/resolv.conf.docker ] || grep -q '^nameserver 127\.0\.0\.11' /etc/resolv.conf; }; then
  nat="$(iptables-save -t nat 2>/dev/null || true)"
  udp="$(sed -n 's#.*-d 127\.0\.0\.11/32 -p udp .*--to-destination 127\.0\.0\.11:\([0-9]*\).*#\1#p' <<<"$nat" | head -1)"
  tcp="$(sed -n 's#.*-d 127\.0\.0\.11/32 -p tcp .*--to-destination 127\.0\.0\.11:\([0-9]*\).*#\1#p' <<<"$nat" | head -1)"
  if [ -n "$udp" ] && [ -n "$tcp" ]; then
    sysctl -qw net.ipv4.conf.all.route_localnet=1
    for chain in PREROUTING OUTPUT; do
      iptables -t nat -A "$chain" -d "$ipv4" -p udp --dport 53 -j DNAT --to-destination "127.0.0.11:$udp"
      iptables -t nat -A "$chain" -d "$ipv4" -p tcp --dport 53 -j DNAT --to-destination "127.0.0.11:$tcp"
    done
    [ -f /kind/resolv.conf.docker ] || cp /etc/resolv.conf /kind/resolv.conf.docker
    sed "s/^nameserver 127\.0\.0\.11\$/nameserver $ipv4/" /kind/resolv.conf.docker >/etc/resolv.conf
    say "DNS: Docker's resolver offered on $ipv4:53"
  else
    say "warning: Docker's DNS rules not found; Pods get no upstream DNS"
  fi
fi

# After a restart of the node container its IP may have changed: fix the
# control-plane configuration (and the serving certificate) to the new one.
if [ -n "$ipv4" ] && [ -s /kind/old-ipv4 ] && [ "$(cat /kind/old-ipv4)" != "$ipv4" ]; then
  old="$(cat /kind/old-ipv4)"
  say "node IP changed from $old to $ipv4"
  for f in /etc/kubernetes/manifests/*.yaml /etc/kubernetes/*.conf /kind/kubeadm.conf /var/lib/kubelet/kubeadm-flags.env; do
    [ -f "$f" ] && sed -i "s#\b${old//./\\.}\b#${ipv4}#g" "$f"
  done
  if [ -f /etc/kubernetes/pki/apiserver.crt ]; then
    rm -f /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/apiserver.key
    kubeadm init phase certs apiserver --config /kind/kubeadm.conf
  fi
fi
[ -n "$ipv4" ] && printf '%s' "$ipv4" >/kind/old-ipv4

say "starting $*"
exec "$@"
EOF

put /etc/containerd/config.toml <<EOF
# containerd (Debian's 1.6) for a kind node: CRI with the systemd cgroup driver.
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  tolerate_missing_hugepages_controller = true
  restrict_oom_score_adj = false
  enable_unprivileged_ports = false

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  discard_unpacked_layers = true

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/opt/cni/bin"
  conf_dir = "/etc/cni/net.d"
EOF

put /etc/systemd/system/containerd.service <<'EOF'
[Unit]
Description=containerd container runtime
After=network.target local-fs.target

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=1
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=1048576
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
EOF

put /etc/systemd/system/kubelet.slice <<'EOF'
[Unit]
Description=Kubernetes kubelet and pods
Before=slices.target

[Slice]
CPUAccounting=true
MemoryAccounting=true
EOF

put /etc/systemd/system/kubelet.service <<'EOF'
[Unit]
Description=kubelet
After=containerd.service
Wants=containerd.service
# kubeadm writes the configuration; until then there is nothing to start.
ConditionPathExists=/var/lib/kubelet/config.yaml

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
RestartSec=1s
StartLimitInterval=0
Slice=kubelet.slice
CPUAccounting=true
MemoryAccounting=true
KillMode=process

[Install]
WantedBy=multi-user.target
EOF

put /etc/systemd/system/kubelet.service.d/10-kubeadm.conf <<'EOF'
# The flags kubeadm expects kubelet to be started with.
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
EOF

put /etc/systemd/system/kubelet.service.d/20-lso-cgroups.conf <<'EOF'
# cgroup v1: the systemd hierarchy also needs the kubelet cgroup root.
# cgroup v2: the controllers kubelet manages must be enabled below the root.
[Service]
ExecStartPre=/bin/sh -ec 'if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then mkdir -p /sys/fs/cgroup/systemd/kubelet; fi'
ExecStartPre=-/bin/sh -ec 'if [ -f /sys/fs/cgroup/cgroup.controllers ]; then for c in cpuset cpu io memory hugetlb pids; do echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true; done; fi'
EOF

put /etc/default/kubelet </dev/null

put /etc/systemd/journald.conf.d/lso.conf <<'EOF'
[Journal]
ReadKMsg=no
Storage=volatile
RuntimeMaxUse=64M
EOF

put /etc/cni/net.d/10-lso-ptp.conflist <<EOF
{
  "cniVersion": "0.4.0",
  "name": "lso-ptp",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_SUBNET_NODE" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      },
      "mtu": 1500
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF

if [ -n "$crictl" ]; then
  put /etc/crictl.yaml <<'EOF'
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
EOF
fi

printf '%s' "$K8S" | put /kind/version

# kind applies these when present. The CNI is baked in (see /etc/cni/net.d),
# so the "default CNI" manifest only records that.
put /kind/manifests/default-cni.yaml <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: lso-node-cni
  namespace: kube-system
data:
  cni: "ptp + host-local + portmap, baked into the node image (/etc/cni/net.d)"
EOF
put /kind/manifests/default-storage.yaml <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
EOF

cat >"$ctx/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      systemd containerd runc containernetworking-plugins \\
      conntrack iptables nftables iproute2 ethtool util-linux mount kmod \\
      libseccomp2 pigz bash ca-certificates curl jq procps \\
 && rm -rf /var/lib/apt/lists/* \\
 && ln -sf /lib/systemd/systemd /sbin/init \\
 && find /lib/systemd/system/sysinit.target.wants/ -name 'systemd-tmpfiles-setup.service' -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
COPY files/ /
RUN chmod 0755 /usr/local/bin/* /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl \\
 && mkdir -p /opt/cni/bin /etc/kubernetes/manifests /var/lib/kubelet \\
 && for p in /usr/lib/cni/*; do ln -sf "\$p" /opt/cni/bin/; done \\
 && systemctl enable containerd.service kubelet.service \\
 && systemctl mask systemd-binfmt.service getty.target console-getty.service \\
 && kubeadm version -o short && containerd --version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
EOF
log "building the node rootfs"
rootfs_image="lso.local/kind-node-rootfs:$K8S-$SCRIPT_HASH"
build_image "$rootfs_image" "$ctx"

# ---- 4. preload the images into containerd and commit --------------------------
# An unprivileged container without a volume on /var (docker commit drops
# volumes); images are imported without unpacking, containerd's CRI unpacks
# them when a pod first uses them.
build_ctr="lso-node-build-$$"
docker run -d --name "$build_ctr" --entrypoint sleep --security-opt seccomp=unconfined \
  "$rootfs_image" infinity >/dev/null
docker cp "$work/images.tar" "$build_ctr:/images.tar"
docker exec "$build_ctr" bash -ec '
  nohup containerd >/tmp/containerd.log 2>&1 &
  for i in $(seq 1 30); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && break; sleep 1; done
  ctr --namespace=k8s.io images import --all-platforms --no-unpack /images.tar >/dev/null
  ctr --namespace=k8s.io images list -q
  pkill -x containerd
  for i in $(seq 1 30); do pgrep -x containerd >/dev/null || break; sleep 1; done
  rm -f /images.tar /tmp/containerd.log
' | grep -v '^sha256:' | sed 's/^/[hack]   preloaded /' >&2
# ENV container=docker and STOPSIGNAL carry over from the rootfs image.
docker commit \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint"]' \
  --change 'CMD ["/sbin/init"]' \
  --change "LABEL io.x-k8s.kind.k8s-version=$K8S org.opencontainers.image.title=lso-kind-node" \
  "$build_ctr" "$NODE_IMAGE" >/dev/null
# Older builds of the node image (other hashes) are dropped unless a cluster uses them.
docker rmi "$rootfs_image" >/dev/null 2>&1 || true
for old in $(docker images --format '{{.Repository}}:{{.Tag}}' |
             grep -E '^lso\.local/kind-node(-rootfs)?:' | grep -v -- "-$SCRIPT_HASH\$" || true); do
  docker rmi "$old" >/dev/null 2>&1 || true
done
log "built $NODE_IMAGE in $((SECONDS - started)) s"
echo "$NODE_IMAGE"
