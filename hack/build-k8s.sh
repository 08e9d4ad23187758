#!/usr/bin/env bash
# Build Kubernetes server binaries (and etcd) from the Go module proxy and cache
# them outside the checkout. Prints the directory that holds them.
#
#   hack/build-k8s.sh [binary ...]    default: kube-apiserver kube-controller-manager etcd
#
# Where dl.k8s.io answers, official release binaries are downloaded instead.
source "$(dirname "$0")/lib.sh"

want=("$@"); [ ${#want[@]} -gt 0 ] || want=(kube-apiserver kube-controller-manager etcd)
out="$(bin_dir kubernetes "$K8S_VERSION")"
mkdir -p "$out"

missing=()
for b in "${want[@]}"; do [ -x "$out/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then echo "$out"; exit 0; fi

# Serialise concurrent builds of the same cache.
exec 9>"$out/.lock"; flock 9
missing=(); for b in "${want[@]}"; do [ -x "$out/$b" ] || missing+=("$b"); done
[ ${#missing[@]} -eq 0 ] && { echo "$out"; exit 0; }

k8s_pkgs=(); need_etcd=0
for b in "${missing[@]}"; do
  case "$b" in
    etcd) need_etcd=1 ;;
    *) k8s_pkgs+=("$b") ;;
  esac
done

if have_internet "https://dl.k8s.io/release/$K8S_VERSION/bin/linux/amd64/kubectl.sha256"; then
  for b in "${k8s_pkgs[@]}"; do
    log "downloading official $b $K8S_VERSION"
    curl -fsSL -o "$out/$b.tmp" "https://dl.k8s.io/release/$K8S_VERSION/bin/linux/amd64/$b"
    chmod +x "$out/$b.tmp"; mv "$out/$b.tmp" "$out/$b"
  done
  k8s_pkgs=()
fi

need_go
# -mod=mod lets go build fill in the wrapper modules' requirements itself.
# The checksum database is not reachable through every module proxy (it answers
# 404 for k8s.io staging modules on mirrored proxies); go.sum is generated here anyway.
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" GOSUMDB="${GOSUMDB:-off}"
GOPROXY="${GOPROXY:-$(go env GOPROXY)}"; export GOPROXY
work="$CACHE_DIR/build/k8s-$K8S_VERSION"
mkdir -p "$work"

# Some module proxies (mirrors) lack a few files of a release. Use the exact
# staging version where the proxy has it, else the nearest patch release of the
# same minor that it has (patch releases of a staging module are compatible).
staging_version() { # $1=module $2=0.MINOR.PATCH
  local m="$1" version="$2" proxy="${GOPROXY%%,*}" base patch
  if [ "$proxy" = direct ] || [ "$proxy" = off ]; then echo "v$version"; return; fi
  base="${version%.*}"; patch="${version##*.}"
  for p in "$patch" $(seq $((patch - 1)) -1 0) $(seq $((patch + 1)) $((patch + 5))); do
    if curl -fsS -o /dev/null "$proxy/k8s.io/$m/@v/v$base.$p.mod" 2>/dev/null &&
       curl -fsS -o /dev/null -I "$proxy/k8s.io/$m/@v/v$base.$p.zip" 2>/dev/null; then
      [ "$p" = "$patch" ] || log "k8s.io/$m v$version is not on $proxy; using v$base.$p"
      echo "v$base.$p"; return
    fi
  done
  die "no v$base.x of k8s.io/$m on $proxy"
}

if [ ${#k8s_pkgs[@]} -gt 0 ]; then
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  staging="0.${K8S_VERSION#v1.}"
  # k8s.io/kubernetes replaces its staging modules with ./staging; a wrapper
  # module that pins each staging module to its published version builds.
  staging_mods=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
    cloud-provider cluster-bootstrap code-generator component-base component-helpers
    controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation
    endpointslice kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler
    kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver
    sample-cli-plugin sample-controller)
  [ "$minor" -ge 32 ] && staging_mods+=(externaljwt)
  {
    echo "module lso.local/k8sbuild"
    echo "go 1.22"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    for m in "${staging_mods[@]}"; do
      # Not inside $(...) of the echo: a failure there would not stop the script.
      v="$(staging_version "$m" "$staging")" || exit 1
      echo "replace k8s.io/$m => k8s.io/$m $v"
    done
  } > "$work/go.mod"
  date_now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date_now"
  done
  for b in "${k8s_pkgs[@]}"; do
    case "$b" in
      kubectl) pkg=k8s.io/kubernetes/cmd/kubectl ;;
      *) pkg="k8s.io/kubernetes/cmd/$b" ;;
    esac
    log "building $b $K8S_VERSION from the Go module proxy (slow the first time)"
    (cd "$work" && go build -trimpath -ldflags "$ld" -o "$out/$b.tmp" "$pkg")
    mv "$out/$b.tmp" "$out/$b"
  done
fi

if [ "$need_etcd" = 1 ]; then
  ew="$CACHE_DIR/build/etcd-$ETCD_VERSION"; mkdir -p "$ew"
  # etcd's server/go.mod has replace directives; requiring it from a wrapper module works.
  printf 'module lso.local/etcdbuild\ngo 1.22\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$ew/go.mod"
  log "building etcd $ETCD_VERSION from the Go module proxy"
  (cd "$ew" && go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$out/etcd.tmp" "$out/etcd"
fi
echo "$out"
