# Submission image for the PhysioNet/CinC Challenge 2020: code in /physionet, run as a non-root user.
#
#   docker build -t ecg12 .                                   # GPU: PyPI's torch, CUDA libraries included
#   docker build --build-arg TORCH=cpu -t ecg12:cpu .         # CPU only: PyTorch's CPU build, no CUDA libraries
#   docker run --rm --gpus all -v "$PWD/DATA:/data:ro" -v "$PWD/MODEL:/model" ecg12 python train_model.py /data /model
#
# torch is requirements.txt's pin, installed with pip like the rest of it into a virtual environment
# (/opt/venv) on a plain Python base. PyPI's Linux torch brings CUDA's libraries as nvidia-* wheels, so the
# host needs only the NVIDIA driver (and the NVIDIA Container Toolkit). Details: docs/docker.md.
ARG BASE_IMAGE=python:3.11-slim-bookworm
# The image the requirements are installed in, then copied from: BASE_IMAGE, or one with the same Python
# whose pip is set up to take wheels from a folder inside it, for a build without network (CI's).
ARG BUILD_IMAGE=${BASE_IMAGE}

FROM ${BUILD_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# cuda: torch from pip's index (PyPI's build for CUDA), or from TORCH_INDEX when given (another CUDA,
# e.g. https://download.pytorch.org/whl/cu126 for an older driver). cpu: from TORCH_INDEX, by default
# PyTorch's CPU index; the build fails if it brings CUDA libraries.
ARG TORCH=cuda
ARG TORCH_INDEX=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY requirements.txt /tmp/requirements.txt
RUN set -eu; \
    case "${TORCH}" in \
        cuda) index="${TORCH_INDEX}" ;; \
        cpu) index="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" ;; \
        *) echo "TORCH must be cuda or cpu, not '${TORCH}'" >&2; exit 1 ;; \
    esac; \
    python3 -m venv /opt/venv; \
    if [ -n "${index}" ]; then \
        /opt/venv/bin/pip install --index-url "${index}" "$(grep -E '^torch==' /tmp/requirements.txt)"; \
    fi; \
    /opt/venv/bin/pip install -r /tmp/requirements.txt; \
    /opt/venv/bin/python -c "import torch; print('torch', torch.__version__, 'for CUDA', torch.version.cuda)"; \
    if [ "${TORCH}" = cpu ]; then \
        if /opt/venv/bin/pip list --format=freeze | grep -i -E '^(nvidia|triton|cuda)'; then \
            echo "TORCH=cpu: the torch from ${index} brings the CUDA packages above" >&2; exit 1; \
        fi; \
        /opt/venv/bin/python -c "import torch, sys; sys.exit(torch.version.cuda and 'TORCH=cpu: this torch is built for CUDA')"; \
    fi

FROM ${BASE_IMAGE}

# Uid/gid of the default user. Mounted output folders must be writable by it; or run the container with
# --user "$(id -u):$(id -g)" to write them as yourself (see docs/docker.md).
ARG APP_UID=1000
ARG APP_GID=1000

# Caches in /tmp: a user given with --user has no home folder (HOME=/). The NVIDIA Container Toolkit
# mounts the driver's compute libraries (and nvidia-smi) when the container is run with --gpus.
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    TORCH_HOME=/tmp/torch \
    XDG_CACHE_HOME=/tmp/cache \
    CUDA_CACHE_PATH=/tmp/cuda-cache \
    ECG12_CACHE=/tmp/ecg12-cache \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /physionet

COPY --from=build /opt/venv /opt/venv

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

CMD ["python", "-c", "print('ecg12: 12-lead ECG classifier (PhysioNet/CinC Challenge 2020).\\nUsage, with folders mounted at /data, /model, /outputs and /scores:\\n  python train_model.py /data /model\\n  python driver.py /model /data /outputs\\n  python evaluate_model.py /data /outputs /scores/scores.csv /scores/class_scores.csv\\nSee docs/docker.md.')"]
