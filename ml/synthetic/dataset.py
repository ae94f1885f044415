"""Write a synthetic artifact dataset in the PAL4VST layout.

    <out>/images/{train,val,test}/<name>.png   RGB
    <out>/labels/{train,val,test}/<name>.png   8-bit L, 0 = clean, 1 = artifact
    <out>/manifest.jsonl                       one record per image
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from .artifacts import make_artifact_sample
from .photos import PHOTOS_BY_URI, load_sample_photos

SPLITS = ("train", "val", "test")
CLEAN_FRACTION = 0.1
HELD_OUT_FRACTION = 0.1  # each of val and test
MANIFEST_NAME = "manifest.jsonl"
# What the generator owns inside the output directory; `overwrite` removes
# only these, never anything else a user keeps there.
_OWNED = ("images", "labels", MANIFEST_NAME)


def _round_half_up(x: float) -> int:
    # Python's round() is banker's rounding, which would give n=5 no val image.
    return int(np.floor(x + 0.5))


def assign_splits(n: int, rng: np.random.Generator) -> list[str]:
    """80/10/10 train/val/test, exact counts, randomly placed."""
    n_val = n_test = _round_half_up(n * HELD_OUT_FRACTION)
    if n_val + n_test >= n:  # tiny sets: keep at least one training image
        n_val = n_test = max(0, (n - 1) // 2)
    labels = np.array(["train"] * n, dtype=object)
    order = rng.permutation(n)
    labels[order[:n_val]] = "val"
    labels[order[n_val : n_val + n_test]] = "test"
    return [str(s) for s in labels]


def _is_nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def _save_png(array: np.ndarray, path: Path) -> None:
    # No metadata and fixed compression, so equal arrays give equal bytes.
    Image.fromarray(array).save(path, format="PNG", compress_level=6)


def generate_dataset(
    out_dir: Path,
    *,
    n: int = 24,
    size: int = 256,
    seed: int = 0,
    overwrite: bool = False,
    kinds: tuple[str, ...] | None = None,
    clean_fraction: float = CLEAN_FRACTION,
) -> list[dict]:
    """Generate `n` samples into `out_dir`; returns the manifest records.

    Each record carries the manifest fields plus "split" and "par" (artifact
    area / image area). `clean_fraction` of the images carry no artifact (a generator whose output is mostly
    fine is a pool where picking what to label matters most). Raises FileExistsError when `out_dir` is non-empty
    unless `overwrite`, which first deletes a previous dataset's images/,
    labels/ and manifest so no stale sample survives a smaller rerun.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if size < 32:
        raise ValueError("size must be at least 32")
    if not 0.0 <= clean_fraction <= 1.0:
        raise ValueError(f"clean_fraction must be between 0 and 1, not {clean_fraction}")
    from .artifacts import ARTIFACT_KINDS

    allowed = tuple(kinds) if kinds else ARTIFACT_KINDS
    unknown = set(allowed) - set(ARTIFACT_KINDS)
    if unknown:
        raise ValueError(f"unknown artifact kind(s) {sorted(unknown)}; known: {', '.join(ARTIFACT_KINDS)}")
    out_dir = Path(out_dir)
    if _is_nonempty_dir(out_dir):
        if not overwrite:
            raise FileExistsError(f"output directory is not empty: {out_dir}")
        for name in _OWNED:
            target = out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    for kind in ("images", "labels"):
        for split in SPLITS:
            (out_dir / kind / split).mkdir(parents=True, exist_ok=True)

    photos = load_sample_photos()
    uris = list(photos)
    # Dataset-level choices come from their own stream so that each sample's
    # content depends only on its own recorded seed.
    plan_rng = np.random.default_rng([seed, 0])
    splits = assign_splits(n, plan_rng)
    n_clean = _round_half_up(n * clean_fraction) if n >= 5 else 0
    clean = set(plan_rng.permutation(n)[:n_clean].tolist())
    # Cycle through a shuffled photo list so every source is used about equally.
    photo_order = [uris[i] for i in plan_rng.permutation(len(uris))]
    sample_seeds = np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)

    records: list[dict] = []
    for i in range(n):
        uri = photo_order[i % len(photo_order)]
        meta = PHOTOS_BY_URI[uri]
        sample_seed = int(sample_seeds[i])
        rng = np.random.default_rng(sample_seed)
        image, mask, kinds = make_artifact_sample(
            rng, photos[uri], size, n_artifacts=0 if i in clean else None, kinds_allowed=allowed
        )
        prompt = meta.prompts[int(rng.integers(len(meta.prompts)))]
        split = splits[i]
        name = f"{i:05d}_{uri.split(':', 1)[1].split('.')[0]}"
        _save_png(image, out_dir / "images" / split / f"{name}.png")
        _save_png(mask, out_dir / "labels" / split / f"{name}.png")
        records.append(
            {
                "path": f"images/{split}/{name}.png",
                "prompt": prompt,
                "seed": sample_seed,
                "domain": meta.domain,
                "source_uri": uri,
                "artifact_kinds": kinds,
                "split": split,
                "par": round(float(mask.mean()), 6),
            }
        )

    manifest_keys = ("path", "prompt", "seed", "domain", "source_uri", "artifact_kinds")
    with open(out_dir / MANIFEST_NAME, "w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps({k: record[k] for k in manifest_keys}) + "\n")
    return records


def summarize(records: list[dict]) -> str:
    counts = {s: sum(r["split"] == s for r in records) for s in SPLITS}
    pars = [r["par"] for r in records]
    n_clean = sum(not r["artifact_kinds"] for r in records)
    return (
        f"{len(records)} images: "
        + ", ".join(f"{s}={c}" for s, c in counts.items())
        + f"; artifact-free={n_clean}; mean PAR={np.mean(pars):.4f}"
    )
