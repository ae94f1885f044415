"""The promotion gate in the learning loop: gather both models' per-image scores and let `ml.promotion` decide.

Segmenters are judged on the benchmarks (datasets/benchmarks.py): the candidate's scope has its own benchmark
(unified ↔ `global`, `generator:<name>` and `task:<slug>` ↔ the benchmark of that scope, the newest when there
are several), and every other benchmark both are scored on must not drop. VLM classifiers have no benchmarks:
they are judged by macro F1 on the test split of the dataset version they were trained on, which the kind's part
scored both models on (`CandidateRun.paired`); a few-shot set's handful of test images cannot decide.
"""

from __future__ import annotations

from django.conf import settings

from backend.mlmodels.models import UNIFIED, ModelVersion
from backend.mlmodels.selectors import model_production_get
from datasets.benchmarks import model_benchmarks_score
from datasets.models import Benchmark, BenchmarkScore
from ml.promotion import Decision, promotion_decide

POINTS = 100.0  # FLAWMAP_PROMOTION_MAX_REGRESSION is in points; the gate works in metric units (IoU 0.01 = 1 point)


def incumbent_for(*, kind: str, scope: str) -> ModelVersion | None:
    """The production model a candidate of `scope` would take over from: the scope's own production model, else
    the unified one that serves those images now (a first specialist must beat it on its scope's images)."""
    return model_production_get(kind=kind, scope=scope) or (
        model_production_get(kind=kind, scope=UNIFIED) if scope != UNIFIED else None)


def scope_benchmark(scope: str) -> str:
    return "global" if scope == UNIFIED else scope


def _benchmark_items(model: ModelVersion) -> dict[str, list[dict]]:
    """Benchmark name → the model's per-image rows, scoring it first on any benchmark it lacks."""
    model_benchmarks_score(model_version=model)
    return {s.benchmark.name: s.items for s in BenchmarkScore.objects.filter(model_version=model)
            .select_related("benchmark")}


def candidate_judge(*, candidate: ModelVersion, incumbent: ModelVersion | None,
                    paired: dict | None = None) -> Decision:
    """The gate's verdict on a registered candidate. `paired` (VLM): {"metric", "benchmark", "candidate",
    "production"} with per-image items of both models on one test set."""
    min_images = settings.FLAWMAP_BENCHMARK_MIN_IMAGES
    max_regression = settings.FLAWMAP_PROMOTION_MAX_REGRESSION / POINTS
    if incumbent is None:
        first = "no production VLM yet" if candidate.kind == ModelVersion.Kind.VLM else "no production model yet"
        return Decision(True, first + ("" if candidate.scope == UNIFIED else f" for {candidate.scope}"),
                        {"scope": candidate.scope, "first": True})
    if paired is not None:
        decision = promotion_decide(paired["benchmark"], {paired["benchmark"]: paired["candidate"]},
                                    {paired["benchmark"]: paired["production"]}, min_images=min_images,
                                    max_regression=max_regression, metric=paired["metric"])
    else:
        wanted = scope_benchmark(candidate.scope)
        newest = Benchmark.objects.filter(scope=wanted).order_by("-created_at", "-id").first()
        decision = promotion_decide(newest.name if newest else wanted, _benchmark_items(candidate),
                                    _benchmark_items(incumbent), min_images=min_images,
                                    max_regression=max_regression, metric="iou")
    evidence = {**decision.evidence, "scope": candidate.scope, "incumbent": incumbent.pk,
                "incumbent_scope": incumbent.scope, "max_regression_points": settings.FLAWMAP_PROMOTION_MAX_REGRESSION}
    return Decision(decision.promote, decision.reason, evidence, undecided=decision.undecided)
