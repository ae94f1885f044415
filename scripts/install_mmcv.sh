#!/usr/bin/env bash
# Full mmcv 2.1.0 (with its compiled ops: mmseg imports mmcv.ops) for the project venv.
#
# PyPI has no mmcv 2.1.0 wheel for this torch, so pip builds it from the sdist (~12 min on 2 cores) and caches
# the wheel in its own cache for the next install. A folder of prebuilt wheels can be offered with
# PIP_FIND_LINKS (CI passes ../shared/wheels when it exists); without one the build simply happens.
# Usage: scripts/install_mmcv.sh PIP
set -euo pipefail
PIP="${1:?usage: install_mmcv.sh PATH_TO_VENV_PIP}"
PY="$(dirname "$PIP")/python"

if "$PY" - <<'PY' 2>/dev/null; then
import mmcv, mmcv.ops  # noqa: F401  (the ops extension is the part mmcv-lite lacks)
assert mmcv.__version__ == "2.1.0"
PY
    echo "mmcv 2.1.0 with ops already installed"
    exit 0
fi

# mmcv 2.1.0's setup.py uses pkg_resources/distutils bits removed from newer setuptools, and it must see the
# venv's torch at build time, hence no build isolation. torch must already be installed.
"$PIP" install --quiet "setuptools<70" ninja
echo "installing mmcv 2.1.0 (building from source unless a cached or found wheel exists; ~12 min to build)"
MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$PIP" install --no-build-isolation mmcv==2.1.0
# The old setuptools was only for that build; torch itself declares setuptools>=77 (cpp_extension).
"$PIP" install --quiet "setuptools>=77.0.3"
"$PY" -c "import mmcv.ops; print('mmcv', __import__('mmcv').__version__, 'with ops: ok')"
