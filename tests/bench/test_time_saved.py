"""bench/time_saved.py: the product's holdout rule and comparison recover a simulated saving."""

import importlib.util
import sys
from pathlib import Path

import pytest

from annotator.holdout import campaign_holdout_salt, prelabel_held_out

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_time_saved", ROOT / "bench" / "time_saved.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_the_interval_covers_the_simulated_saving_and_the_sign_is_right(bench):
    result = bench.main(["--images", "600", "--seeds", "1", "--saving", "20", "--json"])
    (run,) = result["runs"]
    low, high = run["ci95"]
    assert run["covers"] and low <= 20.0 <= high
    assert run["estimate_s"] > 0 and run["n_withheld"] > 50  # about a fifth of the ~540 predicted images
    no_saving = bench.run(seed=0, images=600, share=0.2, saving=0.0)  # nothing saved: zero inside, not a saving
    assert no_saving["ci95"][0] <= 0.0 <= no_saving["ci95"][1]


def test_the_holdout_is_a_stable_hash_share_per_campaign():
    keys = [f"{i:064x}" for i in range(4000)]
    first = [prelabel_held_out(image_key=k, salt=campaign_holdout_salt(1), share=0.2) for k in keys]
    assert first == [prelabel_held_out(image_key=k, salt=campaign_holdout_salt(1), share=0.2) for k in keys]
    assert 0.18 < sum(first) / len(keys) < 0.22
    other = [prelabel_held_out(image_key=k, salt=campaign_holdout_salt(2), share=0.2) for k in keys]
    assert other != first  # each campaign draws its own holdout
    assert not any(prelabel_held_out(image_key=k, salt="s", share=0.0) for k in keys)
    assert all(prelabel_held_out(image_key=k, salt="s", share=1.0) for k in keys)
