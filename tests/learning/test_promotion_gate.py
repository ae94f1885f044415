"""The promotion gate: a candidate replaces the production model of its scope only when it is better on its scope's
benchmark with 95 % confidence and worse by at most FLAWMAP_PROMOTION_MAX_REGRESSION points on no other; a
benchmark below FLAWMAP_BENCHMARK_MIN_IMAGES cannot decide. Scores are built directly from per-image counts."""

import numpy as np
import pytest

from backend.core.blobs import atomic_with_blobs, blob_store
from backend.mlmodels.models import ModelPromotion, ModelVersion, PromotionDecision
from backend.mlmodels.services import model_promote, promotion_decision_record
from datasets.models import Benchmark, BenchmarkScore
from learning.promotion import candidate_judge, incumbent_for
from ml.promotion import promotion_decide


def _items(n: int, iou: float, *, prefix: str, seed: int = 0, noise: int = 0) -> list[dict]:
    """n images whose pooled artifact IoU is about `iou`: a union of 100 pixels each, tp = 100 * iou of them."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        tp = int(round(100 * iou)) + (int(rng.integers(-noise, noise + 1)) if noise else 0)
        tp = max(0, min(100, tp))
        fp = (100 - tp) // 2
        out.append({"image": f"{prefix}{i}", "task": "text_to_image", "generator": prefix, "tp": tp,
                    "fp": fp, "fn": 100 - tp - fp, "inter": tp, "union": 100})
    return out


def _pooled(items):
    tp, fp, fn = (sum(i[k] for i in items) for k in ("tp", "fp", "fn"))
    return tp / (tp + fp + fn)


# ---- the rule, alone (ml/promotion.py) ---------------------------------------------------------------------------

def test_better_with_confidence_is_promoted():
    cand, prod = {"global": _items(40, 0.8, prefix="g", noise=5)}, {"global": _items(40, 0.7, prefix="g", seed=1)}
    decision = promotion_decide("global", cand, prod, min_images=30, max_regression=0.01)
    row = decision.evidence["benchmarks"]["global"]
    assert decision.promote and row["delta_ci"][0] > 0 and row["n_images"] == 40


def test_a_ci_that_reaches_zero_is_refused_even_when_the_mean_is_higher():
    # Same model quality, a few noisy images a little better: the mean is higher, the interval spans 0.
    prod = _items(40, 0.7, prefix="g", noise=20, seed=3)
    cand = [dict(item) for item in prod]
    cand[0] = {**cand[0], "tp": cand[0]["tp"] + 2, "fp": cand[0]["fp"] - 2}
    cand[5] = {**cand[5], "tp": cand[5]["tp"] - 1, "fp": cand[5]["fp"] + 1}
    decision = promotion_decide("global", {"global": cand}, {"global": prod}, min_images=30, max_regression=0.01)
    row = decision.evidence["benchmarks"]["global"]
    assert row["delta"] > 0 and row["delta_ci"][0] <= 0
    assert not decision.promote and not decision.undecided and "not above 0" in decision.reason


def test_a_benchmark_below_the_minimum_cannot_decide():
    cand, prod = {"global": _items(29, 0.9, prefix="g")}, {"global": _items(29, 0.5, prefix="g")}
    decision = promotion_decide("global", cand, prod, min_images=30, max_regression=0.01)
    assert not decision.promote and decision.undecided
    assert "29 image(s)" in decision.reason and "too small to decide" in decision.reason


def test_macro_f1_is_recomputed_per_resample_for_the_vlm():
    def vlm(n, wrong_every):
        return [{"image": i, "classes": {"blur": [0, 1, 1] if i % wrong_every == 0 else [1, 0, 0],
                                         "hand": [1, 0, 0]}} for i in range(n)]
    decision = promotion_decide("test", {"test": vlm(60, 50)}, {"test": vlm(60, 2)}, min_images=30,
                                max_regression=0.01, metric="macro_f1")
    row = decision.evidence["benchmarks"]["test"]
    assert decision.promote and row["candidate"] > row["production"] and row["delta_ci"][0] > 0


# ---- wired to the registry and the benchmarks (learning/promotion.py) --------------------------------------------

def _model(name: str, *, scope: str = "unified") -> ModelVersion:
    with atomic_with_blobs():
        blob = blob_store(data=f"weights of {name}".encode(), content_type="application/octet-stream")
    return ModelVersion.objects.create(kind="segmenter", name=name, version="v1", checkpoint=blob, scope=scope)


def _benchmark(scope: str, n: int) -> Benchmark:
    return Benchmark.objects.create(scope=scope, name=scope, n_images=n, min_images=1,
                                    items=[{"image": i} for i in range(n)])


def _score(model, benchmark, items):
    BenchmarkScore.objects.create(model_version=model, benchmark=benchmark, items=items,
                                  metrics={"iou": _pooled(items), "n_images": len(items)})


@pytest.mark.django_db
def test_a_candidate_that_wins_on_its_benchmark_but_loses_5_points_on_another_is_refused_with_both_numbers(
        settings):
    settings.FLAWMAP_PROMOTION_MAX_REGRESSION = 1.0
    settings.FLAWMAP_BENCHMARK_MIN_IMAGES = 30
    production = model_promote(model_version=_model("unified"))
    candidate = _model("candidate")
    scores = {"global": (0.75, 0.70), "generator:alpha": (0.85, 0.70), "generator:beta": (0.60, 0.65)}
    for scope, (ours, theirs) in scores.items():
        benchmark = _benchmark(scope, 40)
        _score(candidate, benchmark, _items(40, ours, prefix=scope, noise=3, seed=1))
        _score(production, benchmark, _items(40, theirs, prefix=scope, noise=3, seed=2))

    assert incumbent_for(kind="segmenter", scope="unified") == production
    decision = candidate_judge(candidate=candidate, incumbent=production)
    record = promotion_decision_record(candidate=candidate, incumbent=production, outcome="refused",
                                       reason=decision.reason, evidence=decision.evidence)

    assert not decision.promote and not decision.undecided
    assert "generator:beta" in decision.reason and "points" in decision.reason
    stored = PromotionDecision.objects.get(pk=record.pk)
    beta = stored.evidence["benchmarks"]["generator:beta"]
    assert beta["candidate"] == pytest.approx(0.60, abs=0.02) and beta["production"] == pytest.approx(0.65, abs=0.02)
    assert beta["delta"] == pytest.approx(-0.05, abs=0.01) and beta["regressed"]
    won = stored.evidence["benchmarks"]["global"]
    assert won["delta_ci"][0] > 0 and won["candidate"] > won["production"]  # it did win where it was asked to
    assert stored.outcome == "refused" and stored.incumbent == production and stored.scope == "unified"
    production.refresh_from_db(), candidate.refresh_from_db()
    assert production.status == "production" and candidate.status == "candidate"
    assert not ModelPromotion.objects.filter(model_version=candidate).exists()


@pytest.mark.django_db
def test_a_specialist_that_passes_is_promoted_for_its_scope_and_the_unified_model_stays(settings):
    settings.FLAWMAP_BENCHMARK_MIN_IMAGES = 30
    unified = model_promote(model_version=_model("unified"))
    specialist = _model("segmenter-generator-alpha", scope="generator:alpha")
    alpha, beta = _benchmark("generator:alpha", 35), _benchmark("generator:beta", 35)
    _score(specialist, alpha, _items(35, 0.9, prefix="a", noise=2))
    _score(unified, alpha, _items(35, 0.6, prefix="a", noise=2, seed=5))
    _score(specialist, beta, _items(35, 0.2, prefix="b"))  # it is bad on beta, which it will never serve...
    _score(unified, beta, _items(35, 0.7, prefix="b"))  # ... and the regression rule still applies to it

    incumbent = incumbent_for(kind="segmenter", scope="generator:alpha")
    assert incumbent == unified  # a first specialist must beat the model that serves its images now
    decision = candidate_judge(candidate=specialist, incumbent=incumbent)
    assert not decision.promote and "generator:beta" in decision.reason

    settings.FLAWMAP_PROMOTION_MAX_REGRESSION = 60.0  # allow it (an admin's setting), the scope's CI decides
    decision = candidate_judge(candidate=specialist, incumbent=incumbent)
    assert decision.promote
    promotion_decision_record(candidate=specialist, incumbent=incumbent, outcome="promoted", reason=decision.reason,
                              evidence=decision.evidence)
    unified.refresh_from_db(), specialist.refresh_from_db()
    assert unified.status == "production" and specialist.status == "production"
    promotion = ModelPromotion.objects.get(model_version=specialist)
    assert promotion.scope == "generator:alpha" and promotion.replaced is None
    assert promotion.evidence["benchmarks"]["generator:alpha"]["delta_ci"][0] > 0


@pytest.mark.django_db
def test_too_small_a_benchmark_leaves_the_candidate_a_candidate_and_says_why(settings):
    settings.FLAWMAP_BENCHMARK_MIN_IMAGES = 30
    unified = model_promote(model_version=_model("unified"))
    specialist = _model("segmenter-generator-new", scope="generator:new")
    small = _benchmark("generator:new", 3)
    _score(specialist, small, _items(3, 0.9, prefix="n"))
    _score(unified, small, _items(3, 0.1, prefix="n"))
    decision = candidate_judge(candidate=specialist, incumbent=unified)
    assert decision.undecided and "too small to decide" in decision.reason and "3 image(s)" in decision.reason
    # no benchmark at all for a scope says the same
    other = _model("segmenter-task-x", scope="task:inpainting")
    _score(other, small, _items(3, 0.5, prefix="n"))  # scored on every benchmark there is: nothing to predict
    decision = candidate_judge(candidate=other, incumbent=unified)
    assert decision.undecided and "task:inpainting has 0 image(s)" in decision.reason
