"""Does the randomised pre-label holdout measure the time a prediction saves? A simulation with a known answer.

    .venv/bin/python bench/time_saved.py [--images 2000] [--share 0.2] [--saving 20] [--seeds 20] [--json]

Simulated labellers label `--images` images of two generators and two tasks. An image's labelling time is
lognormal (median 90 s, the image's difficulty) times its labeller's speed (five labellers, lognormal spread),
plus Gaussian noise (sd 5 s), minus `--saving` seconds when a prediction was shown. A tenth of the images have no
prediction at all, and they are the hard ones (+40 s): images the model never saw, as a new generator's are.

Which tasks are pushed without their prediction is decided exactly as the product decides it
(annotator.holdout.prelabel_held_out, one simulated campaign per seed), and the estimate is the product's own
comparison (backend.analytics.randomised.randomised_comparison: median withheld − median shown, percentile
bootstrap 95 % interval). The true saving of the medians is `--saving` itself: everything else is identically
distributed in the two arms and clipping times at 1 s is monotone. Printed per seed: the estimate, its
interval and whether it covers the truth, next to the observational estimate (every pass without a prediction
against every pass with one, as "assisted vs unassisted" does), which the hard unpredicted images bias.
Target: the interval covers the truth in about 95 % of seeds (e.g. 19 of 20).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotator.holdout import campaign_holdout_salt, prelabel_held_out  # noqa: E402  (no Django needed)
from backend.analytics.randomised import SHOWN, WITHHELD, randomised_comparison  # noqa: E402

NONE = "none"
GENERATORS = ("gen-a", "gen-b")
TASKS = ("text_to_image", "inpainting")


@dataclass(frozen=True)
class SimPass:
    """The attributes randomised_comparison reads from backend.analytics.labeling_time.Pass."""

    seconds: float
    prelabel: str
    generator: str
    task: str


def simulate(*, seed: int, images: int, share: float, saving: float, no_prediction: float = 0.1,
             hard_extra: float = 40.0, labellers: int = 5, noise_s: float = 5.0) -> list[SimPass]:
    rng = np.random.default_rng(seed)
    speed = rng.lognormal(0.0, 0.2, labellers)
    salt = campaign_holdout_salt(seed + 1)  # one simulated campaign per seed, each drawing its own holdout
    passes = []
    for _ in range(images):
        sha = rng.bytes(32).hex()  # the image's sha256 as the product keys it
        has_prediction = rng.random() >= no_prediction
        if not has_prediction:
            prelabel = NONE
        elif prelabel_held_out(image_key=sha, salt=salt, share=share):
            prelabel = WITHHELD
        else:
            prelabel = SHOWN
        seconds = rng.lognormal(np.log(90.0), 0.5) * speed[rng.integers(labellers)] + rng.normal(0.0, noise_s)
        seconds += hard_extra * (not has_prediction) - saving * (prelabel == SHOWN)
        passes.append(SimPass(max(1.0, float(seconds)), prelabel, GENERATORS[rng.integers(2)], TASKS[rng.integers(2)]))
    return passes


def run(*, seed: int, images: int, share: float, saving: float) -> dict:
    passes = simulate(seed=seed, images=images, share=share, saving=saving)
    overall = randomised_comparison(passes)["overall"]
    low, high = overall["ci95"]
    shown = [p.seconds for p in passes if p.prelabel == SHOWN]
    not_shown = [p.seconds for p in passes if p.prelabel != SHOWN]
    return {
        "seed": seed, "true_saving_s": saving, "n_shown": overall["n_shown"], "n_withheld": overall["n_withheld"],
        "estimate_s": overall["difference_s"], "ci95": [low, high], "covers": bool(low <= saving <= high),
        "observational_s": float(np.median(not_shown) - np.median(shown)),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--share", type=float, default=0.2, help="the campaign's prelabel_holdout")
    parser.add_argument("--saving", type=float, default=20.0, help="true seconds a shown prediction saves")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    args = parser.parse_args(argv)
    if not 0.0 < args.share < 1.0 or args.images < 10 or args.seeds < 1:
        parser.error("--share must be between 0 and 1 (exclusive), --images at least 10, --seeds at least 1")
    runs = [run(seed=s, images=args.images, share=args.share, saving=args.saving)
            for s in range(args.first_seed, args.first_seed + args.seeds)]
    result = {"images": args.images, "share": args.share, "true_saving_s": args.saving, "runs": runs,
              "covered": sum(r["covers"] for r in runs), "seeds": len(runs),
              "mean_estimate_s": float(np.mean([r["estimate_s"] for r in runs])),
              "mean_observational_s": float(np.mean([r["observational_s"] for r in runs]))}
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"{args.images} images, holdout share {args.share}, true saving {args.saving:.1f} s")
    print("seed  shown  withheld  estimate s  95 % CI            covers  observational s")
    for r in runs:
        print(f"{r['seed']:>4}  {r['n_shown']:>5}  {r['n_withheld']:>8}  {r['estimate_s']:>10.1f}  "
              f"[{r['ci95'][0]:>6.1f}, {r['ci95'][1]:>6.1f}]  {'yes' if r['covers'] else 'NO':>6}  "
              f"{r['observational_s']:>15.1f}")
    print(f"covered: {result['covered']}/{result['seeds']}; mean estimate {result['mean_estimate_s']:.1f} s; "
          f"mean observational {result['mean_observational_s']:.1f} s")
    return result


if __name__ == "__main__":
    main()
