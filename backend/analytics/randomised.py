"""The randomised measure of the time a pre-label saves.

A campaign's `prelabel_holdout` withholds the prediction from a share of its tasks, chosen by a hash of the image
(annotator.holdout), and each pass records what its labeller was shown (Annotation.prelabel). Passes of tasks that
showed a prediction are compared with passes of tasks whose existing prediction was withheld: since only the hash
decided which is which, the difference of their medians is the time the prediction saved, not the difference
between images that happened to have one (the observational "assisted vs unassisted").

Free of Django and of the database, so that bench/time_saved.py runs this very function on simulated passes.
"""

from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

import numpy as np

from ml.stats import median_difference_ci

# Annotation.Prelabel's values (this module does not import models; tests/backend/test_labeling_time.py checks them).
SHOWN, WITHHELD = "shown", "withheld"
DESIGN = ("randomised: each campaign's prelabel_holdout share of tasks, chosen by a hash of the image, was pushed "
          "without its prediction; difference_s = median withheld − median shown (seconds saved), ci95 a percentile "
          "bootstrap of it (passes resampled within each arm)")


class TimedPass(Protocol):
    seconds: float
    prelabel: str
    generator: str
    task: str


def arm_comparison(*, shown: Iterable[float], withheld: Iterable[float], with_ci: bool = True) -> dict:
    shown, withheld = np.asarray(list(shown), dtype=float), np.asarray(list(withheld), dtype=float)
    median_shown = float(np.median(shown)) if shown.size else None
    median_withheld = float(np.median(withheld)) if withheld.size else None
    both = shown.size and withheld.size
    ci = median_difference_ci(withheld, shown) if both and with_ci else None
    return {
        "n_shown": int(shown.size), "n_withheld": int(withheld.size),
        "median_shown_s": median_shown, "median_withheld_s": median_withheld,
        "difference_s": median_withheld - median_shown if both else None,
        "ci95": list(ci) if ci is not None else None,
    }


def _by(passes: list[TimedPass], key: str, with_ci: bool) -> list[dict]:
    arms: dict[str, dict[str, list[float]]] = defaultdict(lambda: {SHOWN: [], WITHHELD: []})
    for p in passes:
        arms[getattr(p, key)][p.prelabel].append(p.seconds)
    return [{key: name, **arm_comparison(shown=a[SHOWN], withheld=a[WITHHELD], with_ci=with_ci)}
            for name, a in sorted(arms.items())]


def randomised_comparison(passes: Iterable[TimedPass], *, with_ci: bool = True) -> dict:
    """Shown vs withheld over every pass of the trial (passes whose prelabel is shown or withheld; passes with no
    prediction to show, or from before this was recorded, are not in it), per generator and per task."""
    trial = [p for p in passes if p.prelabel in (SHOWN, WITHHELD)]
    return {
        "design": DESIGN,
        "overall": arm_comparison(shown=[p.seconds for p in trial if p.prelabel == SHOWN],
                                  withheld=[p.seconds for p in trial if p.prelabel == WITHHELD], with_ci=with_ci),
        "by_generator": _by(trial, "generator", with_ci),
        "by_task": _by(trial, "task", with_ci),
    }
