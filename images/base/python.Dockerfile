# lso.local/python:3.11-slim-bookworm, made by hack/base-image.sh where no
# registry serves python:3.11-slim-bookworm: Debian's python3 (3.11, like the
# official image) on the local Debian base (DEBIAN_IMAGE). No build context.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && ln -s /usr/bin/python3 /usr/local/bin/python \
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
CMD ["python3"]
