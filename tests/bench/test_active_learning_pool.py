"""bench/active_learning.py --pool: runs of one seed each pool into the figures one run of all seeds prints."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_active_learning", ROOT / "bench" / "active_learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SETTINGS = {"iters_per_round": 600, "fine_tune_from": "start", "test_images": 120, "clean_fraction": 0.1}


def write_run(path: Path, seed: int, curves: dict, **settings) -> Path:
    part = {"seeds": [seed], **SETTINGS, **settings, "curves_per_seed": {str(seed): curves}}
    path.write_text(json.dumps({"active_learning": part}))
    return path


def test_pooled_runs_give_the_mean_curves_and_ratios_of_all_their_seeds(bench, tmp_path):
    a = write_run(tmp_path / "a.json", 1, {"random": [[16, 0.1], [40, 0.2], [64, 0.3]],
                                           "uncertainty": [[16, 0.1], [40, 0.5], [64, 0.5]],
                                           "diversity": [[16, 0.1], [40, 0.2], [64, 0.2]]})
    b = write_run(tmp_path / "b.json", 2, {"random": [[16, 0.1], [40, 0.2], [64, 0.3]],
                                           "uncertainty": [[16, 0.1], [40, 0.3], [64, 0.3]]})
    figures = bench.pooled([a, b])
    assert figures["seeds"] == [1, 2]
    assert set(figures["curves"]) == {"random", "uncertainty"}  # diversity is not in every run
    assert figures["curves"]["uncertainty"] == [(16, 0.1), (40, 0.4), (64, 0.4)]
    # random's final mean is 0.3; uncertainty's mean curve reaches it two thirds of the way from 16 to 40 labels
    assert figures["labels_to_reach_random_final"]["uncertainty"] == pytest.approx(32.0)
    assert figures["ratio_to_random"]["uncertainty"] == 0.5
    assert figures["ratio_to_random_per_seed"]["2"]["uncertainty"] == 0.625
    assert figures["pass"] is True
    assert figures["fine_tune_from"] == "start"


@pytest.mark.parametrize("problem, message", [
    ("same seed", "seed 1 is also in"),
    ("other settings", "run with"),
    ("other label counts", "has labels"),
    ("not json", "not an active-learning result"),
])
def test_pool_refuses_runs_it_cannot_pool_and_names_the_file(bench, tmp_path, problem, message):
    curves = {"random": [[16, 0.1], [40, 0.2]], "uncertainty": [[16, 0.1], [40, 0.3]]}
    first = write_run(tmp_path / "first.json", 1, curves)
    if problem == "same seed":
        second = write_run(tmp_path / "second.json", 1, curves)
    elif problem == "other label counts":
        second = write_run(tmp_path / "second.json", 2, {s: [[16, 0.1], [32, 0.2]] for s in curves})
    elif problem == "other settings":
        second = write_run(tmp_path / "second.json", 2, curves, iters_per_round=400)
    else:
        second = tmp_path / "second.json"
        second.write_text("not json")
    with pytest.raises(ValueError, match=message) as error:
        bench.pooled([first, second])
    assert str(second) in str(error.value)
