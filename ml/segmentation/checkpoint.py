"""Segmenter checkpoints: our slim `.pth` (weights + the config text) and PAL4VST's TorchScript `end2end.pt`."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A checkpoint that is missing or that we cannot use."""


def is_torchscript(path: Path) -> bool:
    """TorchScript archives carry compiled code (`<archive>/code/`); torch.save archives do not."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a `.pth` onto the CPU. Safe (weights-only) unpickling first; full mmengine training checkpoints
    carry Python objects in their meta, so those fall back to a full load of this local file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any refusal of the safe loader
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc


def state_dict_of(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    state = checkpoint.get("state_dict", checkpoint.get("model", checkpoint))
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("checkpoint holds no model weights")
    # Weights saved from a wrapped (DataParallel / DDP) model carry a `module.` prefix.
    return {k.removeprefix("module."): v for k, v in state.items()}


def save_slim_checkpoint(
    path: str | Path, *, state_dict: dict[str, torch.Tensor], config_text: str, meta: dict[str, Any]
) -> Path:
    """Weights and the full config text: enough to rebuild the model anywhere, loadable with weights_only."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"state_dict": state_dict, "meta": {**meta, "cfg": config_text}}, tmp)
    tmp.replace(path)
    return path


def load_matching_weights(model: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Copy every weight whose name and shape match (e.g. an ADE20K model's backbone and head convs, but not
    its 150-class classifier). Returns what was loaded, skipped for shape, and missing from the checkpoint."""
    own = model.state_dict()
    loaded, mismatched = [], []
    for name, tensor in state_dict.items():
        if name in own:
            if own[name].shape == tensor.shape:
                own[name].copy_(tensor)
                loaded.append(name)
            else:
                mismatched.append(name)
    missing = [name for name in own if name not in state_dict]
    if not loaded:
        raise CheckpointError("no weight in the checkpoint matches this model (wrong architecture?)")
    return {"loaded": loaded, "mismatched": mismatched, "missing": missing}
