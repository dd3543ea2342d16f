# Submission image for the PhysioNet/CinC Challenge 2020: code in /physionet, run as a non-root user.
#
#   docker build -t ecg12 .
#   docker run --rm --gpus all -v "$PWD/DATA:/data:ro" -v "$PWD/MODEL:/model" ecg12 python train_model.py /data /model
#
# The base image provides Python (3.11 or newer) and torch, CUDA build included; the image keeps that torch
# and installs the rest of requirements.txt. Any image with `python` and torch on PATH works as a base:
#   docker build --build-arg BASE_IMAGE=my/python-with-torch:tag -t ecg12 .
ARG BASE_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}

# Uid/gid of the default user. Mounted output folders must be writable by it; or run the container with
# --user "$(id -u):$(id -g)" to write them as yourself (see README.md, section Docker).
ARG APP_UID=1000
ARG APP_GID=1000

# Caches in /tmp: a user given with --user has no home folder (HOME=/).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    TORCH_HOME=/tmp/torch \
    XDG_CACHE_HOME=/tmp/cache \
    CUDA_CACHE_PATH=/tmp/cuda-cache \
    ECG12_CACHE=/tmp/ecg12-cache \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /physionet

# Runtime requirements without torch: the base image's (CUDA) torch stays, pinned by a constraint so that
# no other requirement can pull a different torch in. The build fails if torch changed or no longer imports.
COPY requirements.txt /tmp/requirements.txt
RUN set -eu; \
    python -c "import torch; print(torch.__version__)" > /tmp/torch-before; \
    echo "torch==$(cat /tmp/torch-before)" > /tmp/torch-constraint.txt; \
    grep -v -i -E '^[[:space:]]*torch[[:space:]]*([=<>!~;[]|$)' /tmp/requirements.txt > /tmp/requirements-no-torch.txt; \
    python -m pip install -c /tmp/torch-constraint.txt -r /tmp/requirements-no-torch.txt; \
    python -c "import torch; print(torch.__version__)" > /tmp/torch-after; \
    cmp /tmp/torch-before /tmp/torch-after; \
    python -c "import numpy, scipy, wfdb, torch; print('torch', torch.__version__, 'numpy', numpy.__version__)"; \
    rm -f /tmp/requirements.txt /tmp/requirements-no-torch.txt /tmp/torch-constraint.txt /tmp/torch-before /tmp/torch-after

# The non-root user (reuse the uid if the base image already has it), and the conventional mount points,
# writable by it when nothing is mounted there (a named volume takes their ownership).
RUN set -eu; \
    if ! getent group "${APP_GID}" > /dev/null; then groupadd --gid "${APP_GID}" physionet; fi; \
    if ! getent passwd "${APP_UID}" > /dev/null; then \
        useradd --uid "${APP_UID}" --gid "${APP_GID}" --no-log-init --create-home --shell /bin/bash physionet; \
    fi; \
    mkdir -p /data /model /outputs /scores; \
    chown "${APP_UID}:${APP_GID}" /model /outputs /scores; \
    chmod 1777 /tmp

# The code, owned by root and read-only for the user; outputs go to mounted folders.
COPY . /physionet
RUN chmod -R a+rX /physionet

USER ${APP_UID}:${APP_GID}

CMD ["python", "-c", "print('ecg12: 12-lead ECG classifier (PhysioNet/CinC Challenge 2020).\\nUsage, with folders mounted at /data, /model, /outputs and /scores:\\n  python train_model.py /data /model\\n  python driver.py /model /data /outputs\\n  python evaluate_model.py /data /outputs /scores/scores.csv /scores/class_scores.csv\\nSee README.md, section Docker.')"]
