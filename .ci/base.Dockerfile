# CI stand-in for the submission image's base (pytorch/pytorch:...): no image registry is reachable in CI, so
# .ci/run bootstraps Debian bookworm (minbase) with debootstrap, imports it as ROOTFS_IMAGE and builds this on
# top: Debian's python3 (3.11) in a venv at /opt/venv, on PATH as `python`, holding requirements.txt (CPU
# torch included) from a wheelhouse downloaded on the host. Context: a folder with wheelhouse/ in it, whose
# requirements.txt is a copy of the project's.
ARG ROOTFS_IMAGE=ecg12-ci/debian:bookworm

FROM ${ROOTFS_IMAGE} AS python
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

FROM python AS deps
COPY wheelhouse /wheelhouse
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheelhouse -r /wheelhouse/requirements.txt

# Without the wheelhouse layer.
FROM python
COPY --from=deps /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN python -c "import torch, numpy; print('base: python ok, torch', torch.__version__, 'numpy', numpy.__version__)"
