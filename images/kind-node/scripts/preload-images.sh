#!/bin/bash
# Import a `docker save` tarball into containerd's k8s.io namespace, inside a
# container of the node rootfs image (not part of the image itself).
#
#   preload-images.sh /images.tar     prints the references now in k8s.io
#
# hack/build-node-image.sh copies the tarball into the build container, runs
# this script there (`docker exec -i CTR bash -s -- /images.tar <this-file`,
# so that it leaves no copy behind) and commits the container as the node
# image. Images are imported without unpacking: containerd's CRI unpacks them
# when a pod first uses them. The tarball is removed afterwards.
set -o errexit -o nounset -o pipefail

tarball="$1"
nohup containerd >/tmp/containerd.log 2>&1 &
for _ in $(seq 1 30); do
  if [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1; then break; fi
  sleep 1
done
ctr --namespace=k8s.io images import --all-platforms --no-unpack "$tarball" >/dev/null
ctr --namespace=k8s.io images list -q
pkill -x containerd
for _ in $(seq 1 30); do
  pgrep -x containerd >/dev/null || break
  sleep 1
done
rm -f "$tarball" /tmp/containerd.log
