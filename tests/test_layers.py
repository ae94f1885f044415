"""The import-linter contracts in pyproject.toml are real: they name every package, and an upward import breaks
them. Runs lint-imports on a scratch copy of the code, so the working tree is never touched."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contract(contract_id: str) -> dict:
    return next(c for c in CONFIG["contracts"] if c["id"] == contract_id)


def _layer_modules(layers: list[str]) -> set[str]:
    return {part.strip() for layer in layers for part in layer.replace("|", ":").split(":")}


def test_every_top_level_package_and_backend_app_is_a_declared_layer():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    assert set(CONFIG["root_packages"]) == packages
    declared = _layer_modules(_contract("layers")["layers"])
    backend_apps = {p.name for p in (ROOT / "backend").iterdir() if (p / "__init__.py").is_file()}
    assert declared == (packages - {"backend"}) | {f"backend.{app}" for app in backend_apps}


@pytest.fixture
def scratch(tmp_path) -> Path:
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=folder, capture_output=True, text=True, timeout=300,
                          env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(folder)})


def test_the_contracts_hold_and_an_upward_import_breaks_them(scratch):
    assert _lint(scratch).returncode == 0
    target = scratch / "backend" / "images" / "selectors.py"
    target.write_text(target.read_text() + "\nfrom annotator import models as _upward  # noqa: E402,F401\n")
    broken = _lint(scratch)
    assert broken.returncode != 0
    assert "backend.images.selectors -> annotator.models" in broken.stdout


def test_dropping_a_backend_app_from_its_contract_breaks_it(scratch):
    config = scratch / "pyproject.toml"
    config.write_text(config.read_text().replace("core : taxonomy : images", "core : taxonomy", 1))
    broken = _lint(scratch)
    assert broken.returncode != 0 and "backend.images" in broken.stdout
