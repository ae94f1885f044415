"""A demo `vlm-jsonl` export from synthetic artifacts (ml/synthetic), with a box, class and caption each.

`ml.synthetic` writes masks only; the classifier needs per-artifact labels, so this applies the same
artifact kinds one blob at a time, keeps each blob's box, and maps the kind to the SynArtifact class a
labeller would pick. The output has the exporter's layout and text (same template functions,
`classes.json`), so train/evaluate/predict can't tell it from `manage.py export --format vlm-jsonl`.

    python -m ml.vlm.demo_data --out DIR [--n 48] [--size 96] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ml.synthetic.artifacts import MIN_PIXEL_DELTA, apply_kind, random_blob, random_crop
from ml.synthetic.dataset import assign_splits
from ml.synthetic.photos import load_sample_photos
from ml.vlm.data import SYNARTIFACT_CLASSES, write_classes
from ml.vlm.template import answer, question

# synthetic kind → (SynArtifact class code, caption a labeller might write)
KIND_CLASS = {
    "swirl": ("3", "swirled, warped patch"),
    "warp": ("3", "warped and deformed region"),
    "blur": ("9", "blurry region in a sharp image"),
    "color_shift": ("10", "unnatural colour shift"),
    "noise": ("11", "noisy texture patch"),
    "duplicate": ("4", "duplicated patch copied from elsewhere"),
}


def _sample(rng, photo, size: int, n_artifacts: int, classes_by_code):
    image = random_crop(rng, photo, size)
    taken = np.zeros(image.shape[:2], dtype=bool)
    regions = []
    kinds = list(KIND_CLASS)
    for _ in range(n_artifacts):
        for _attempt in range(8):
            kind = kinds[int(rng.integers(len(kinds)))]
            blob = random_blob(rng, image.shape[:2], float(rng.uniform(0.03, 0.12)))
            if (blob & taken).any():
                continue
            altered = apply_kind(rng, kind, image, blob)
            if altered is None:
                continue
            delta = np.abs(altered.astype(np.int16) - image.astype(np.int16)).max(axis=-1)
            if (delta[blob] >= MIN_PIXEL_DELTA).mean() < 0.6:
                continue  # invisible: no honest label
            image, taken = altered, taken | blob
            ys, xs = np.nonzero(blob)
            code, caption = KIND_CLASS[kind]
            regions.append({"bbox": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
                            "code": code, "class": classes_by_code[code], "caption": caption})
            break
    return image, regions


def generate_vlm_demo(out: Path, *, n: int = 48, size: int = 96, seed: int = 0) -> dict:
    """Write the export to `out`; returns counts per split."""
    out = Path(out)
    classes = [tuple(c) for c in SYNARTIFACT_CLASSES]
    by_code = {code: slug for code, slug, _n, _d in classes}
    prompt = question(classes)
    photos = list(load_sample_photos().values())
    rng = np.random.default_rng(seed)
    splits = assign_splits(n, rng)
    files = {s: [] for s in ("train", "val", "test")}
    for i, split in enumerate(splits):
        n_artifacts = int(rng.choice([0, 1, 2], p=[0.25, 0.5, 0.25]))
        image, regions = _sample(rng, photos[i % len(photos)], size, n_artifacts, by_code)
        rel = f"images/{split}/demo_{i:04d}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(out / rel, format="PNG")
        files[split].append({"image": rel, "question": prompt, "answer": answer(regions, classes), "sha256": "",
                             "label_source": "synthetic", "width": size, "height": size})
    for split, lines in files.items():
        (out / f"{split}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    write_classes(out / "classes.json", classes)
    return {split: len(lines) for split, lines in files.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.vlm.demo_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(generate_vlm_demo(args.out, n=args.n, size=args.size, seed=args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
