"""CLI: python -m ml.synthetic --out DIR [--n 24] [--size 256] [--seed 0] [--kinds K,..]
[--clean-fraction F] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .dataset import CLEAN_FRACTION, generate_dataset, summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.synthetic",
        description="Generate sample photos with synthetic artifacts and masks (PAL4VST layout).",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--n", type=int, default=24, help="number of images (default 24)")
    parser.add_argument("--size", type=int, default=256, help="square image side in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--kinds", default="", help="comma-separated artifact kinds to use (default: all)")
    parser.add_argument("--clean-fraction", type=float, default=CLEAN_FRACTION,
                        help=f"share of artifact-free images (default {CLEAN_FRACTION})")
    parser.add_argument(
        "--force", action="store_true",
        help="write into a non-empty --out, replacing an earlier dataset's images/, labels/ and manifest",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.size < 32 or args.seed < 0:
        parser.error("--n must be >= 1, --size >= 32 and --seed >= 0")
    try:
        kinds = tuple(k for k in args.kinds.split(",") if k) or None
        records = generate_dataset(args.out, n=args.n, size=args.size, seed=args.seed, overwrite=args.force,
                                   kinds=kinds, clean_fraction=args.clean_fraction)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileExistsError:
        print(
            f"error: {args.out} exists and is not empty; choose another --out or pass --force",
            file=sys.stderr,
        )
        return 2
    print(summarize(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
