#!/usr/bin/env bash
# Build the project's container images from images/*/Dockerfile.
#
#   hack/build-images.sh [--load] [operator|worker|forwarder|mediamtx ...]
#
#   --load   also load them into the kind cluster $CLUSTER_NAME (kind load docker-image)
#
# Images are tagged $LSO_IMAGE_REPO/<name>:$LSO_IMAGE_TAG (default
# livestream-operator/<name>:dev). Base images: the official ones where a
# registry answers, else the local equivalents from hack/base-image.sh; the
# MediaMTX binary: the official image, else hack/build-mediamtx.sh.
source "$(dirname "$0")/lib.sh"

LSO_IMAGE_REPO="${LSO_IMAGE_REPO:-livestream-operator}"
load=0; names=()
for a in "$@"; do
  case "$a" in
    --load) load=1 ;;
    operator|worker|forwarder|mediamtx) names+=("$a") ;;
    *) die "usage: $0 [--load] [operator|worker|forwarder|mediamtx ...]" ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(operator worker forwarder mediamtx)

bash "$HACK_DIR/docker.sh" >&2
eval "$(bash "$HACK_DIR/base-image.sh")"   # DEBIAN_IMAGE, PYTHON_IMAGE

work="$(mktemp -d "${TMPDIR:-/tmp}/lso-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The Python package, without caches.
pkg_ctx="$work/pkg"
mkdir -p "$pkg_ctx"
cp "$REPO_ROOT/pyproject.toml" "$pkg_ctx/"
if [ -f "$REPO_ROOT/README.md" ]; then cp "$REPO_ROOT/README.md" "$pkg_ctx/"; else : >"$pkg_ctx/README.md"; fi
tar -C "$REPO_ROOT" --exclude='__pycache__' --exclude='*.pyc' --exclude='*.egg-info' -cf - operator |
  tar -C "$pkg_ctx" -xf -
# The dependencies get their own image layer (rebuilt only when pyproject.toml
# changes), plus the build backend, so the package installs without isolation.
python3 "$HACK_DIR/libexec/pyproject-requirements.py" "$REPO_ROOT/pyproject.toml" >"$pkg_ctx/requirements.txt"
# The operator image also runs the reference processing backends, Gemini's too.
python3 "$HACK_DIR/libexec/pyproject-requirements.py" "$REPO_ROOT/pyproject.toml" gemini \
  >"$pkg_ctx/requirements-operator.txt"

mediamtx_image() {
  if try_pull "$OFFICIAL_MEDIAMTX_IMAGE"; then echo "$OFFICIAL_MEDIAMTX_IMAGE"; return; fi
  local bin ref="lso.local/mediamtx-bin:$MEDIAMTX_VERSION"
  bin="$(bash "$HACK_DIR/build-mediamtx.sh")"
  local ctx="$work/mediamtx-bin"; mkdir -p "$ctx"
  cp "$bin" "$ctx/mediamtx"
  docker build -q -f "$REPO_ROOT/images/mediamtx/binary.Dockerfile" -t "$ref" "$ctx" >/dev/null
  echo "$ref"
}

built=()
for n in "${names[@]}"; do
  ref="$LSO_IMAGE_REPO/$n:$LSO_IMAGE_TAG"
  args=(--build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
  case "$n" in
    mediamtx)
      ctx="$work/mediamtx"; mkdir -p "$ctx"
      cp "$REPO_ROOT/operator/livestream_operator/ingest/mtx_hook.py" "$ctx/mtx-hook"
      cp "$REPO_ROOT/operator/livestream_operator/backoff.py" "$ctx/backoff.py"
      cp "$REPO_ROOT/charts/livestream-operator/files/mediamtx.yml" "$ctx/mediamtx.yml"
      args+=(--build-arg "MEDIAMTX_IMAGE=$(mediamtx_image)")
      ;;
    *) ctx="$pkg_ctx" ;;
  esac
  log "building $ref"
  t0=$SECONDS
  docker build "${args[@]}" -f "$REPO_ROOT/images/$n/Dockerfile" -t "$ref" "$ctx" \
    >"$work/build-$n.log" 2>&1 || { tail -30 "$work/build-$n.log" >&2; die "docker build $ref failed"; }
  log "built $ref in $((SECONDS - t0)) s ($(docker image inspect -f '{{.Size}}' "$ref" | awk '{printf "%d MB", $1/1e6}'))"
  built+=("$ref")
done

if [ "$load" = 1 ]; then
  PATH="$(bash "$HACK_DIR/build-tools.sh" kind):$PATH"; export PATH
  # kind reloads every image without crictl in the node; skip the ones whose
  # image id was loaded already (recorded in the node's /var, a volume).
  mapfile -t nodes < <(kind get nodes --name "$CLUSTER_NAME")
  [ ${#nodes[@]} -gt 0 ] || die "no kind cluster $CLUSTER_NAME"
  to_load=()
  for ref in "${built[@]}"; do
    id="$(docker image inspect -f '{{.Id}}' "$ref")"; key="$(printf '%s' "$ref" | tr '/:' '__')"
    for n in "${nodes[@]}"; do
      if [ "$(docker exec "$n" cat "/var/lib/lso-loaded/$key" 2>/dev/null)" != "$id" ]; then
        to_load+=("$ref"); break
      fi
    done
  done
  if [ ${#to_load[@]} -gt 0 ]; then
    log "loading ${to_load[*]} into kind cluster $CLUSTER_NAME"
    kind load docker-image --name "$CLUSTER_NAME" "${to_load[@]}" >&2
    for ref in "${to_load[@]}"; do
      id="$(docker image inspect -f '{{.Id}}' "$ref")"; key="$(printf '%s' "$ref" | tr '/:' '__')"
      for n in "${nodes[@]}"; do
        docker exec "$n" sh -c "mkdir -p /var/lib/lso-loaded && printf '%s' '$id' >/var/lib/lso-loaded/$key"
      done
    done
  else
    log "images already loaded in kind cluster $CLUSTER_NAME"
  fi
fi
printf '%s\n' "${built[@]}"
