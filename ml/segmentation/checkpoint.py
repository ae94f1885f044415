"""Segmenter checkpoints: our slim `.pth` (weights + the config text) and PAL4VST's TorchScript `end2end.pt`."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A checkpoint that is missing or that we cannot use."""


class UntrustedConfigError(CheckpointError):
    """A checkpoint whose embedded config is not one shipped in ml/segmentation/configs/ (name and content).
    A config is Python that mmengine executes, so only an admin may let another one in (`--trust-config`)."""


def is_torchscript(path: Path) -> bool:
    """TorchScript archives carry compiled code (`<archive>/code/`); torch.save archives do not."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a `.pth` onto the CPU with torch's weights-only unpickler, and nothing else: a pickle may name any
    callable and a full load would run it, so a checkpoint holding more than tensors and plain data (dicts,
    lists, numbers, strings) is refused, never retried with a full load. Our own checkpoints are written that
    way (`save_slim_checkpoint`, `plain_meta`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message names the offending global (e.g. `GLOBAL posix.system`) amid advice to load it with
        # weights_only=False or to allowlist it; keep the name, drop the advice.
        reason = str(exc).split("WeightsUnpickler error:", 1)[-1].split(". Please", 1)[0].split("\n")[-1].strip()
        raise CheckpointError(
            f"refusing checkpoint {path}: it holds Python objects, not only weights and plain data, and loading "
            f"it could run code ({reason})"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc


def plain_meta(value: Any) -> Any:
    """`value` as plain data the weights-only loader accepts: dicts, lists, str, int, float, bool, None.
    numpy scalars and arrays become numbers and lists; anything else (mmengine's ConfigDict is a dict, but a
    HistoryBuffer or a datetime is not) becomes its text, so no class is pickled by reference."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): plain_meta(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain_meta(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array, tensor
        return plain_meta(value.tolist())
    return str(value)


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
    torch.save({"state_dict": state_dict, "meta": plain_meta({**meta, "cfg": config_text})}, tmp)
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
