# Not a project image: where no registry serves the official MediaMTX image,
# hack/build-images.sh wraps the binary that hack/build-mediamtx.sh builds in
# this FROM-scratch image and passes it to images/mediamtx/Dockerfile as
# MEDIAMTX_IMAGE (which takes /mediamtx out of it, like out of the official one).
FROM scratch
COPY mediamtx /mediamtx
ENTRYPOINT ["/mediamtx"]
