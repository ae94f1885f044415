"""A fine-tuned VLM folder ↔ one file, so a model version is one content-addressed checkpoint blob.

A plain tar of the folder's files in sorted order with zeroed times and owners: the same model gives the
same bytes (the same blob). Unpacking refuses paths that would leave the destination.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from ml.vlm.model import META_FILE


def pack(model_dir: Path, out: Path) -> Path:
    model_dir, out = Path(model_dir), Path(out)
    if not (model_dir / META_FILE).is_file():
        raise ValueError(f"{model_dir} is not a fine-tuned VLM folder (no {META_FILE})")
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(model_dir).as_posix())
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out


def is_package(path: Path) -> bool:
    try:
        with tarfile.open(path) as tar:
            return META_FILE in tar.getnames()
    except (tarfile.TarError, OSError):
        return False


def read_meta(path: Path) -> dict:
    with tarfile.open(path) as tar:
        return json.loads(tar.extractfile(META_FILE).read())


def unpack(path: Path, dest: Path) -> Path:
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path) as tar:
        tar.extractall(dest, filter="data")  # "data" refuses absolute paths, .. and links out of dest
    return dest
