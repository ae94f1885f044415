# syntax=docker/dockerfile:1
# One Flawmap image for every job: web (gunicorn), webhook ingress/drain, Celery workers and beat, migrations,
# training and inference. docker-compose.yml picks the command per service.
#
#   docker build --target cpu  -t flawmap:latest .       # every host without a GPU (the default target: last)
#   docker build --target cuda -t flawmap:cuda .         # GPU workers: CUDA torch, mmcv with CUDA ops
#
# Both targets install through scripts/install_python_deps.sh, the script `make install` runs, into a venv in a
# build stage (compilers stay there); the runtime stages copy the venv and run as an unprivileged user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# torch 2.13.0's CUDA build is CUDA 13.0: mmcv's CUDA ops must be compiled with the same major version.
ARG CUDA_DEVEL_IMAGE=nvidia/cuda:13.0.1-devel-ubuntu22.04
ARG CUDA_BASE_IMAGE=nvidia/cuda:13.0.1-base-ubuntu22.04

# ---- build stages: a venv at /opt/venv with every Python dependency ------------------------------------------
FROM ${PYTHON_IMAGE} AS cpu-build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# g++ builds mmcv's (CPU) ops.
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.txt requirements-ml.txt ./
COPY scripts/install_python_deps.sh scripts/install_mmcv.sh scripts/
RUN python -m venv /opt/venv && TORCH_VARIANT=cpu bash scripts/install_python_deps.sh /opt/venv/bin/pip

FROM ${CUDA_DEVEL_IMAGE} AS cuda-build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
# Python 3.11 at /usr/bin/python3.11, the same path as in the cuda runtime stage (the venv links to it).
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
 && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.txt requirements-ml.txt ./
COPY scripts/install_python_deps.sh scripts/install_mmcv.sh scripts/
# No GPU at build time: FORCE_CUDA=1 compiles mmcv's CUDA kernels anyway, for these architectures
# (Turing to Blackwell; CUDA 13 dropped the older ones) plus PTX for newer cards. Narrow the list to your
# GPUs (--build-arg TORCH_CUDA_ARCH_LIST=9.0) for a much shorter build.
ARG TORCH_CUDA_ARCH_LIST="7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX"
ENV FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST}
RUN python3.11 -m venv /opt/venv && TORCH_VARIANT=cu130 bash scripts/install_python_deps.sh /opt/venv/bin/pip

# ---- runtime stages -----------------------------------------------------------------------------------------
FROM ${CUDA_BASE_IMAGE} AS cuda-runtime
ENV DEBIAN_FRONTEND=noninteractive
# torch's wheels bring the CUDA libraries; the host's driver comes in through the NVIDIA container toolkit.
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
 && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
 && apt-get install -y --no-install-recommends python3.11 libgl1 libglib2.0-0 \
 && apt-get purge -y software-properties-common gpg-agent && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*
COPY --from=cuda-build /opt/venv /opt/venv

FROM ${PYTHON_IMAGE} AS cpu-runtime
# OpenCV's shared libraries.
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
COPY --from=cpu-build /opt/venv /opt/venv

# ---- the app on top of either runtime (same steps; Dockerfiles cannot share a tail across bases) ---------------
FROM cuda-runtime AS cuda
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=backend.config.settings
RUN groupadd --system --gid 10001 flawmap \
 && useradd --system --uid 10001 --gid flawmap --create-home --home-dir /home/flawmap --shell /usr/sbin/nologin flawmap
WORKDIR /app
# Code stays root-owned (read-only for the app user); .dockerignore keeps tests, benchmarks, var/ and .env out.
COPY . .
# Writable: var/ (static root, beat schedule, model cache, scratch) and the media mount point (a new named volume
# copies this ownership).
RUN mkdir -p /app/var /data/media && chown flawmap:flawmap /app/var /data/media
USER flawmap
EXPOSE 8000
CMD ["gunicorn", "backend.config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]

FROM cpu-runtime AS cpu
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=backend.config.settings
RUN groupadd --system --gid 10001 flawmap \
 && useradd --system --uid 10001 --gid flawmap --create-home --home-dir /home/flawmap --shell /usr/sbin/nologin flawmap
WORKDIR /app
COPY . .
RUN mkdir -p /app/var /data/media && chown flawmap:flawmap /app/var /data/media
USER flawmap
EXPOSE 8000
CMD ["gunicorn", "backend.config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
