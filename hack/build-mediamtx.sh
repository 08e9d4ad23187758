#!/usr/bin/env bash
# Provide a MediaMTX binary and print its path.
#
#   hack/build-mediamtx.sh        -> $CACHE_DIR/bin/mediamtx/<version>/mediamtx
#
# Where github.com answers, the official release tarball is used. Otherwise
# MediaMTX is built from the Go module proxy: the module zip lacks two embedded,
# git-ignored files (internal/core/VERSION and internal/servers/hls/hls.min.js),
# so they are generated here (hls.min.js from the npm package MediaMTX pins).
# Nothing from MediaMTX is stored in this repository; it is read from the
# module cache at build time.
source "$(dirname "$0")/lib.sh"

out_dir="$(bin_dir mediamtx "$MEDIAMTX_VERSION")"
bin="$out_dir/mediamtx"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

mkdir -p "$out_dir"
# Serialise concurrent callers (parallel test workers, the lead's scripts).
exec 9>"$out_dir/.lock"; flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch="" ;;
esac

tmp="$(mktemp -d "$out_dir/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

url="https://github.com/bluenviron/mediamtx/releases/download/$MEDIAMTX_VERSION/mediamtx_${MEDIAMTX_VERSION}_linux_${arch}.tar.gz"
if [ -n "$arch" ] && have_internet "https://github.com" \
  && curl -fsSL --max-time 300 -o "$tmp/mediamtx.tar.gz" "$url"; then
  log "using the official MediaMTX $MEDIAMTX_VERSION release"
  tar -C "$tmp" -xzf "$tmp/mediamtx.tar.gz" mediamtx
  chmod +x "$tmp/mediamtx"
  mv "$tmp/mediamtx" "$bin.tmp" && mv "$bin.tmp" "$bin"
  echo "$bin"; exit 0
fi

need_go
command -v npm >/dev/null 2>&1 || die "npm is required to fetch hls.js@$HLSJS_VERSION"
log "building MediaMTX $MEDIAMTX_VERSION from the Go module proxy"
export GOSUMDB="${GOSUMDB:-off}" GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

mod="github.com/bluenviron/mediamtx"
# -json prints the extracted module directory in the module cache.
# (From an empty directory, so that no surrounding go.mod is involved.)
src="$(cd "$tmp" && go mod download -json "$mod@$MEDIAMTX_VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
if [ -z "$src" ] || [ ! -d "$src" ]; then die "go mod download $mod@$MEDIAMTX_VERSION gave no directory"; fi

work="$CACHE_DIR/build/mediamtx-$MEDIAMTX_VERSION"
rm -rf "$work"; mkdir -p "$(dirname "$work")"
cp -R "$src" "$work"
chmod -R u+w "$work" # the module cache is read-only
printf '%s' "$MEDIAMTX_VERSION" > "$work/internal/core/VERSION" # no newline: it is printed verbatim

npm_dir="$tmp/npm"; mkdir -p "$npm_dir"
tgz="$(cd "$npm_dir" && npm pack --silent "hls.js@$HLSJS_VERSION" | tail -n1)"
tar -C "$npm_dir" -xzf "$npm_dir/$tgz" package/dist/hls.min.js
cp "$npm_dir/package/dist/hls.min.js" "$work/internal/servers/hls/hls.min.js"

(cd "$work" && go build -trimpath -ldflags "-s -w" -o "$tmp/mediamtx" .)
"$tmp/mediamtx" --help >/dev/null 2>&1 || log "warning: built binary did not answer --help"
mv "$tmp/mediamtx" "$bin.tmp" && mv "$bin.tmp" "$bin"
rm -rf "$work"
log "MediaMTX $MEDIAMTX_VERSION built"
echo "$bin"
