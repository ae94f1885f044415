"""The production image (Dockerfile, .dockerignore) installs exactly what `make install` installs.

Static checks (no container engine here): the image's install step is the Makefile's script, so CI's
`make install` exercises the image's install path; the cuda target builds mmcv's CUDA ops on a CUDA devel base;
the image runs as an unprivileged user and its build context leaves tests, benchmarks and local state out.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = "scripts/install_python_deps.sh"


def _dockerfile_stages() -> dict[str, str]:
    """Stage name -> its instructions (line continuations joined)."""
    text = re.sub(r"\\\n", " ", (REPO_ROOT / "Dockerfile").read_text())
    stages: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        found = re.match(r"^FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if found:
            name = found.group(1)
            stages[name] = line + "\n"
        elif name is not None:
            stages[name] += line + "\n"
    return stages


def _makefile_recipe(target: str) -> list[str]:
    lines = (REPO_ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_the_image_installs_through_the_makefiles_script():
    recipe = _makefile_recipe("$(INSTALLED)")
    make_installs = [line for line in recipe if INSTALL_SCRIPT in line]
    assert make_installs == [f"bash {INSTALL_SCRIPT} $(PIP)"], recipe
    assert not any("pip" in line.lower() and "install" in line for line in recipe if INSTALL_SCRIPT not in line), \
        "the Makefile installs packages outside the shared script"

    stages = _dockerfile_stages()
    for stage, variant in (("cpu-build", "cpu"), ("cuda-build", "cu")):
        runs = [line for line in stages[stage].splitlines() if line.startswith("RUN") and INSTALL_SCRIPT in line]
        assert len(runs) == 1, f"{stage}: {runs}"
        assert re.search(rf"TORCH_VARIANT={variant}\S* bash {INSTALL_SCRIPT} /opt/venv/bin/pip", runs[0]), runs[0]
    # No stage installs requirements on its own.
    assert "pip install" not in "".join(stages.values()), "the Dockerfile installs packages outside the script"


def test_install_script_pins_torch_first_and_builds_mmcv_last():
    script = (REPO_ROOT / INSTALL_SCRIPT).read_text()
    subprocess.run(["bash", "-n", str(REPO_ROOT / INSTALL_SCRIPT)], check=True)
    steps = [line for line in script.splitlines() if line.startswith(('"$PIP" install', "bash scripts/"))]
    assert "torch==$TORCH_VERSION" in steps[1]
    assert steps[-1] == 'bash scripts/install_mmcv.sh "$PIP"'
    # A variant other than PyPI's default build comes from the PyTorch index of that name (cpu, cu130, ...).
    assert "https://download.pytorch.org/whl/$TORCH_VARIANT" in script


def test_cuda_target_builds_mmcv_with_cuda_ops_on_a_devel_base():
    stages = _dockerfile_stages()
    build = stages["cuda-build"]
    assert re.search(r"^FROM\s+\$\{CUDA_DEVEL_IMAGE\}", build)
    assert re.search(r"^ARG CUDA_DEVEL_IMAGE=nvidia/cuda:\S+-devel-", (REPO_ROOT / "Dockerfile").read_text(), re.M)
    assert "FORCE_CUDA=1" in build
    assert "COPY --from=cuda-build /opt/venv /opt/venv" in stages["cuda-runtime"]
    assert "COPY --from=cpu-build /opt/venv /opt/venv" in stages["cpu-runtime"]


@pytest.mark.parametrize("target", ["cpu", "cuda"])
def test_runtime_targets_run_as_an_unprivileged_user(target):
    stage = _dockerfile_stages()[target]
    users = re.findall(r"^USER\s+(\S+)", stage, re.M)
    assert users and users[-1] not in ("root", "0"), users
    assert re.search(r"^ENV PATH=/opt/venv/bin:", stage, re.M)
    # The default target (the last stage) is the CPU image.
    assert list(_dockerfile_stages())[-1] == "cpu"


def test_build_context_leaves_out_tests_benchmarks_and_local_state():
    patterns = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert {"tests", "bench", "var", ".env", ".venv*", "docs/experiments", ".git"} <= patterns, patterns
