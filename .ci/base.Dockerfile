# CI stand-ins for the Dockerfile's base images; no image registry is reachable in CI. .ci/run bootstraps
# Debian bookworm (minbase) with debootstrap, imports it as ROOTFS_IMAGE and builds two targets of this file:
#   python  stand-in for BASE_IMAGE (python:3.11-slim-bookworm): Debian's python3 (3.11) with venv;
#   wheels  BUILD_IMAGE for a build without network: python plus a wheelhouse downloaded on the host
#           (requirements.txt, CPU torch), which pip in it takes instead of an index.
# Context: a folder with wheelhouse/ in it.
ARG ROOTFS_IMAGE=ecg12-ci/debian:bookworm

FROM ${ROOTFS_IMAGE} AS python
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

FROM python AS wheels
COPY wheelhouse /wheels
ENV PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheels
