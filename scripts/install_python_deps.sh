#!/usr/bin/env bash
# Every Python dependency of Flawmap into one environment: the single install path of `make install` and of the
# Dockerfile's `cpu` and `cuda` images, so CI exercises the image's install step.
#
#   scripts/install_python_deps.sh PIP                     # the Makefile: torch from PyPI (its default build)
#   TORCH_VARIANT=cpu   scripts/install_python_deps.sh PIP # CPU-only torch from the PyTorch CPU index
#   TORCH_VARIANT=cu130 scripts/install_python_deps.sh PIP # CUDA 13.0 torch from the PyTorch CUDA index
#
# torch goes in first and pinned: an unpinned torch (even as a dependency) pulls PyPI's CUDA build, and a later
# `torch==X` requirement is already met by a `X+cpu` / `X+cu130` build. mmcv goes last: it is compiled against
# the installed torch (scripts/install_mmcv.sh; FORCE_CUDA=1 builds its CUDA ops, PIP_FIND_LINKS offers prebuilt
# wheels). Run from the repository root.
set -euo pipefail
PIP="${1:?usage: install_python_deps.sh PATH_TO_VENV_PIP}"
TORCH_VERSION=2.13.0
TORCH_VARIANT="${TORCH_VARIANT:-pypi}"

torch_source=()
if [ "$TORCH_VARIANT" != "pypi" ]; then
    torch_source=(--index-url "https://download.pytorch.org/whl/$TORCH_VARIANT")
fi

"$PIP" install --quiet --upgrade pip wheel
"$PIP" install --quiet "${torch_source[@]}" "torch==$TORCH_VERSION"
"$PIP" install --quiet -r requirements.txt
"$PIP" install --quiet -r requirements-ml.txt
bash scripts/install_mmcv.sh "$PIP"
