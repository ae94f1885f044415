"""Read side of the dashboard. Every function runs a fixed number of aggregated queries (GROUP BY in the
database, or one values_list), so a page costs the same number of queries with 10 images or 10 million."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import Avg, Case, Count, IntegerField, Q, Value, When

from annotator.models import Campaign
from backend.analytics import labeling_time, randomised
from backend.annotations.models import Annotation
from backend.images.models import GeneratedImage, Generator, SynthesisTask
from backend.jobs.models import Job
from backend.mlmodels.models import ModelPromotion, ModelVersion
from datasets.datasheet import PAR_BINS, PAR_LABELS
from datasets.models import DatasetVersion
from datasets.selectors import benchmark_scores_of
from learning.models import ActiveLearningRound

PAR_SOURCES = ("human", "model")
RECENT_JOBS = 50


def overview_counts() -> dict[str, int]:
    images = GeneratedImage.objects.aggregate(
        images=Count("id"), labelled=Count("id", filter=Q(is_labelled=True)),
        with_par=Count("id", filter=Q(par__isnull=False)),
    )
    annotations = Annotation.objects.aggregate(
        annotations=Count("id"), human_annotations=Count("id", filter=Q(user__isnull=False)),
        model_annotations=Count("id", filter=Q(model_version__isnull=False)),
    )
    return {
        **images, **annotations,
        "generators": Generator.objects.count(),
        "campaigns": Campaign.objects.count(),
        "model_versions": ModelVersion.objects.count(),
        "dataset_versions": DatasetVersion.objects.filter(status=DatasetVersion.Status.READY).count(),
        "active_jobs": Job.objects.filter(status__in=Job.ACTIVE).count(),
    }


def images_per_task() -> list[dict]:
    """Every synthesis task (also those without images) with its image and human-labelled counts."""
    return list(
        SynthesisTask.objects.annotate(
            n_images=Count("images"), n_labelled=Count("images", filter=Q(images__is_labelled=True)),
        ).order_by("order", "slug").values("slug", "name", "n_images", "n_labelled")
    )


def images_per_generator() -> list[dict]:
    rows = Generator.objects.annotate(
        n_images=Count("images"), n_labelled=Count("images", filter=Q(images__is_labelled=True)),
    ).order_by("name", "version").values("name", "version", "n_images", "n_labelled")
    return [{**row, "label": generator_label(row["name"], row["version"])} for row in rows]


def generator_label(name: str, version: str) -> str:
    return f"{name} {version}".strip()


def _par_images(source: str):
    """Images whose representative mask (GeneratedImage.par) came from `source`. Fixed images are left out:
    they are the fixer's output, not the generator's (as on the leaderboard)."""
    if source not in PAR_SOURCES:
        raise ValueError(f"source must be one of {', '.join(PAR_SOURCES)}")
    return GeneratedImage.objects.filter(par__isnull=False, par_source=source, fix_par_before__isnull=True)


def _par_bin():
    """The datasheet's PAR bins as a SQL CASE: bin i holds PAR_BINS[i] <= par < PAR_BINS[i + 1]."""
    whens = [When(par__lt=upper, then=Value(i)) for i, upper in enumerate(PAR_BINS[1:-1])]
    return Case(*whens, default=Value(len(PAR_LABELS) - 1), output_field=IntegerField())


def par_histograms(*, source: str = "human") -> list[dict]:
    """PAR histogram per synthesis task (PAL4VST Figure 2), binned in SQL: one GROUP BY (task, bin) query and
    one for the task names. Only tasks with at least one image are returned, in the tasks' own order."""
    counts: dict[int, list[int]] = {}
    rows = _par_images(source).annotate(bin=_par_bin()).values("task_id", "bin").annotate(n=Count("id"))
    for row in rows:
        counts.setdefault(row["task_id"], [0] * len(PAR_LABELS))[row["bin"]] = row["n"]
    tasks = SynthesisTask.objects.filter(pk__in=counts).order_by("order", "slug").values_list("pk", "slug", "name")
    return [{"slug": slug, "name": name, "counts": counts[pk], "total": sum(counts[pk])} for pk, slug, name in tasks]


def average_par_grid(*, source: str = "human") -> dict:
    """Average PAR per (generator, task) (PAL4VST Figure 3 per generator): one GROUP BY query. Rows are the
    generators and columns the tasks that have at least one image with a PAR."""
    rows = list(
        _par_images(source).values("generator__name", "generator__version", "task__slug", "task__order")
        .annotate(avg=Avg("par"), n=Count("id"))
    )
    generators = sorted({generator_label(r["generator__name"], r["generator__version"]) for r in rows})
    tasks = [slug for _, slug in sorted({(r["task__order"], r["task__slug"]) for r in rows})]
    cells = {
        (generator_label(r["generator__name"], r["generator__version"]), r["task__slug"]): (r["avg"], r["n"])
        for r in rows
    }
    return {"rows": generators, "columns": tasks, "cells": cells}


TIME_GROUPS = ("annotator", "generator", "task", "campaign", "week")


def labelling_time() -> dict:
    """What the labelling-time API reports, from the same functions (backend/analytics/labeling_time.py): the
    counted passes are fetched once and grouped in Python. The bootstrap confidence interval of the saving is
    left to the API (GET /api/stats/labeling-time): 2000 resamples of every pass is too slow for a page; so are
    the randomised comparison's (about 0.2 s per 4,000 passes in the trial, per grouping)."""
    passes = labeling_time.counted_passes()
    split = labeling_time.assisted_vs_unassisted(passes, with_ci=False)
    return {
        "overall": labeling_time.summary([p.seconds for p in passes]),
        "groups": {group: labeling_time.grouped(passes, group) for group in TIME_GROUPS},
        "assisted": split["assisted"],
        "unassisted": split["unassisted"],
        "median_saving_s": split["median_saving_s"],
        "randomised": randomised.randomised_comparison(passes, with_ci=False),
        "rejected": labeling_time.rejected_summary(),
    }


def _test_metrics(metrics: dict) -> dict:
    """The evaluation a model version was registered with: the segmenter's `test` split scores, or the
    metrics themselves for kinds that store them flat."""
    test = metrics.get("test") if isinstance(metrics, dict) else None
    return test if isinstance(test, dict) else (metrics if isinstance(metrics, dict) else {})


def model_versions() -> list[dict]:
    """Every model version with its overall test scores and per-task scores (metrics["test"]["tasks"])."""
    rows = ModelVersion.objects.order_by("kind", "-created_at", "-id").values(
        "pk", "kind", "name", "version", "status", "created_at", "promoted_at", "retired_at", "metrics",
        "trained_on",
    )
    out = []
    for row in rows:
        test = _test_metrics(row.pop("metrics"))
        tasks = test.get("tasks") if isinstance(test.get("tasks"), dict) else {}
        overall = {k: (str(v) if isinstance(v, int) else f"{v:.4f}")
                   for k, v in test.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        trained_on = row.pop("trained_on") or {}
        out.append({**row, "label": f"{row['name']}@{row['version']}", "overall": overall, "tasks": tasks,
                    "dataset_version": f"{trained_on['dataset']} v{trained_on['number']}" if trained_on else "",
                    "benchmarks": []})
    _attach_benchmark_scores(out)
    return out


def _ci_text(summary: dict) -> str:
    """"0.412 [0.35, 0.47]" for a score with its 95 % interval; "–" when undefined."""
    iou, ci = summary.get("iou"), summary.get("iou_ci")
    if iou is None:
        return "–"
    return f"{iou:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def _attach_benchmark_scores(versions: list[dict]) -> None:
    """Each version's benchmark scores (one query for all): IoU [95 % CI], F1, images, per task and generator."""
    by_id = {v["pk"]: v for v in versions}
    for score in benchmark_scores_of(model_version_ids=list(by_id)):
        m = score.metrics
        by_id[score.model_version_id]["benchmarks"].append({
            "scope": score.benchmark.scope, "name": score.benchmark.name, "iou": _ci_text(m),
            "f1": "–" if m.get("f1") is None else f"{m['f1']:.3f}", "n": m.get("n_images", 0),
            "per_task": [(task, _ci_text(s), s.get("n", 0)) for task, s in (m.get("per_task") or {}).items()],
            "per_generator": [(name, _ci_text(s), s.get("n", 0))
                              for name, s in (m.get("per_generator") or {}).items()],
        })


def promotion_history() -> list[dict]:
    return list(ModelPromotion.objects.order_by("-promoted_at", "-id").values(
        "promoted_at", "kind", "model_version__name", "model_version__version", "model_version__status",
        "replaced__name", "replaced__version",
    ))


def learning_rounds() -> list[dict]:
    """Active-learning rounds, newest first, each with the picking model's metrics (before) and those of the
    next production model of its kind promoted after the round (after), when there is one yet."""
    rounds = list(ActiveLearningRound.objects.order_by("-created_at", "-id").values(
        "pk", "campaign__name", "number", "strategy", "k", "candidates", "picked", "pushed", "created_at",
        "model_version__name", "model_version__version", "model_metrics",
    ))
    promotions = list(
        ModelPromotion.objects.filter(kind=ModelVersion.Kind.SEGMENTER).order_by("promoted_at", "id")
        .values("promoted_at", "model_version__name", "model_version__version", "model_version__metrics")
    )
    for r in rounds:
        after = next((p for p in promotions if p["promoted_at"] > r["created_at"]), None)
        r["after_model"] = f"{after['model_version__name']}@{after['model_version__version']}" if after else ""
        r["after_metrics"] = _test_metrics(after["model_version__metrics"]) if after else {}
        r["model"] = (f"{r['model_version__name']}@{r['model_version__version']}"
                      if r["model_version__name"] else "")
    return rounds


def job_status_counts() -> dict:
    """Jobs per (kind, status), one GROUP BY; plus the totals per status."""
    per_kind: dict[str, dict[str, int]] = {}
    totals = {status: 0 for status in Job.Status.values}
    for row in Job.objects.order_by().values("kind", "status").annotate(n=Count("id")):
        per_kind.setdefault(row["kind"], {s: 0 for s in Job.Status.values})[row["status"]] = row["n"]
        totals[row["status"]] += row["n"]
    return {"per_kind": dict(sorted(per_kind.items())), "totals": totals}


def recent_jobs(*, limit: int = RECENT_JOBS) -> list[dict]:
    """The newest jobs, each with the name of the campaign it works on (None for other subjects)."""
    rows = list(Job.objects.order_by("-created_at", "-id").values(
        "pk", "kind", "status", "progress", "message", "attempt", "max_attempts", "created_at", "started_at",
        "finished_at", "subject_type", "subject_id",
    )[:limit])
    campaign_type = ContentType.objects.get_for_model(Campaign).pk
    names = dict(Campaign.objects.filter(pk__in={r["subject_id"] for r in rows if r["subject_type"] == campaign_type})
                 .values_list("pk", "name"))
    return [{**row, "campaign": names.get(row["subject_id"]) if row["subject_type"] == campaign_type else None}
            for row in rows]


def dataset_versions() -> list[dict]:
    """Complete dataset versions (a version still building is not one yet), newest first."""
    rows = DatasetVersion.objects.filter(status=DatasetVersion.Status.READY).order_by("-created_at", "-id").values(
        "pk", "dataset__name", "number", "note", "manifest_hash", "counts", "created_at", "author__username",
        "parent__number",
    )
    return [{**row, "items": (row["counts"] or {}).get("items", 0),
             "splits": (row["counts"] or {}).get("splits", {})} for row in rows]


def dataset_version_get(*, version_id: int) -> DatasetVersion | None:
    return (DatasetVersion.objects.filter(pk=version_id, status=DatasetVersion.Status.READY)
            .select_related("dataset", "parent", "author").first())
