"""Reads for the quality tools: best-of-N picks, the generator leaderboard, fix jobs."""

from __future__ import annotations

from itertools import groupby

from django.db.models import Avg, Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import QueryDict

from backend.annotations.models import MaskLabel
from backend.core.exceptions import ApplicationError
from backend.images.models import GeneratedImage
from backend.images.selectors import image_list
from backend.quality.leaderboard import BOOTSTRAP_RESAMPLES, bootstrap_mean_ci, par_summary
from backend.quality.models import FixJob

SOURCES = ("human", "model")
GROUP_BY = ("prompt",)
# group_by=prompt reads one row per matching image; past this the caller must narrow the filter.
BEST_OF_N_MAX_IMAGES = 20_000


def _pick(key, candidates: list[dict]) -> dict:
    """The lowest-PAR candidate (ties: lowest id); images without a PAR can't be judged and are listed apart."""
    scored = sorted((c for c in candidates if c["par"] is not None), key=lambda c: (c["par"], c["id"]))
    sources = sorted({c["par_source"] for c in scored})
    return {
        "key": key,
        "best": scored[0] if scored else None,
        "candidates": scored,
        "unscored": [c["id"] for c in candidates if c["par"] is None],
        "par_sources": sources,
        # A human PAR and a model PAR are not the same measurement; say so when a group mixes them.
        "mixed_sources": len(sources) > 1,
    }


def best_of_n(*, groups: list[list[int]]) -> list[dict]:
    """For each group of candidate image ids, the one with the lowest PAR. Unknown ids are an error."""
    wanted = {image_id for group in groups for image_id in group}
    rows = {r["id"]: r for r in GeneratedImage.objects.filter(pk__in=wanted).values("id", "par", "par_source")}
    unknown = sorted(wanted - rows.keys())
    if unknown:
        raise ApplicationError(f"unknown image ids: {', '.join(map(str, unknown))}", extra={"unknown_ids": unknown})
    return [_pick(None, [rows[i] for i in dict.fromkeys(group)]) for group in groups]


def _as_query(filters: dict) -> QueryDict:
    """JSON filters ({"generator": 3, "task": ["a", "b"]}) as the query string the image list's filters read."""
    query = QueryDict(mutable=True)
    for key, value in filters.items():
        query.setlist(key, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    return query


def best_of_n_grouped(*, group_by: str, filters: dict | None = None) -> list[dict]:
    """Group the images matching `filters` (the image list's filters) by prompt; the best of each group.
    Fixed images (made by the fix job) are not candidates: they are not a generator's output."""
    if group_by not in GROUP_BY:
        raise ApplicationError(f"group_by must be one of {', '.join(GROUP_BY)}")
    qs = image_list(filters=_as_query(filters or {})).filter(fix_par_before__isnull=True).exclude(**{group_by: ""})
    rows = list(qs.order_by(group_by, "id").values("id", "par", "par_source", group_by)[: BEST_OF_N_MAX_IMAGES + 1])
    if len(rows) > BEST_OF_N_MAX_IMAGES:
        raise ApplicationError(f"more than {BEST_OF_N_MAX_IMAGES} images match; narrow the filter")
    return [
        _pick(key, [{k: r[k] for k in ("id", "par", "par_source")} for r in group])
        for key, group in groupby(rows, key=lambda r: r[group_by])
    ]


def _scored_images(*, source: str, task: str | None, model_version) -> QuerySet:
    """Generator outputs (fixed images excluded) with a `score` PAR from the chosen source."""
    qs = GeneratedImage.objects.filter(fix_par_before__isnull=True)
    if task:
        qs = qs.filter(task__slug=task)
    if source == "human":
        # The denormalised summary already holds the newest submitted/reviewed human PAR.
        return qs.filter(par_source="human", par__isnull=False).annotate(score=F("par"))
    # GeneratedImage.par prefers humans, which would hide the model's PAR on labelled images: read the newest
    # current model mask of each image instead (one correlated subquery, no per-image round trips).
    masks = MaskLabel.objects.filter(annotation__image=OuterRef("pk"), annotation__model_version__isnull=False,
                                     annotation__is_current=True, annotation__deleted_at__isnull=True)
    if model_version is not None:
        masks = masks.filter(annotation__model_version=model_version)
    newest = masks.order_by("-annotation__created_at", "-annotation_id").values("par")[:1]
    return qs.annotate(score=Subquery(newest)).filter(score__isnull=False)


def generator_leaderboard(*, source: str, task: str | None = None, model_version=None) -> dict:
    """Mean PAR per generator version and task, with bootstrap 95 % CIs and the artifact-free share; and the
    same per generator over all tasks. Two queries whatever the number of generators and images."""
    if source not in SOURCES:
        raise ApplicationError(f"source must be one of {', '.join(SOURCES)}")
    qs = _scored_images(source=source, task=task, model_version=model_version)
    keys = ("generator_id", "generator__name", "generator__version", "task__slug")
    aggregated = list(qs.values(*keys).annotate(
        n=Count("id"), mean=Avg("score"), free=Count("id", filter=Q(score=0)),
    ).order_by())
    values: dict[tuple, list[float]] = {}
    for generator_id, task_slug, score in qs.values_list("generator_id", "task__slug", "score").order_by():
        values.setdefault((generator_id, task_slug), []).append(score)

    def generator_of(row) -> dict:
        return {"id": row["generator_id"], "name": row["generator__name"], "version": row["generator__version"]}

    rows = []
    for row in aggregated:
        low, high = bootstrap_mean_ci(values[(row["generator_id"], row["task__slug"])])
        rows.append({
            "generator": generator_of(row), "task": row["task__slug"], "images": row["n"],
            "mean_par": row["mean"], "ci95": [low, high], "artifact_free": row["free"],
            "artifact_free_share": row["free"] / row["n"],
        })
    rows.sort(key=lambda r: (r["task"], r["mean_par"], r["generator"]["name"], r["generator"]["version"]))
    for task_slug, task_rows in groupby(rows, key=lambda r: r["task"]):
        for rank, row in enumerate(task_rows, start=1):
            row["rank"] = rank  # within the task; 1 = fewest artifacts
    generators = {}
    for row in aggregated:
        generators.setdefault(row["generator_id"], generator_of(row))
    overall = [
        {"generator": generator, "task": None,
         **par_summary([v for (gid, _), vs in values.items() if gid == generator_id for v in vs])}
        for generator_id, generator in generators.items()
    ]
    overall.sort(key=lambda r: (r["mean_par"], r["generator"]["name"], r["generator"]["version"]))
    for rank, row in enumerate(overall, start=1):
        row["rank"] = rank
    return {"source": source, "task": task, "resamples": BOOTSTRAP_RESAMPLES, "confidence": 0.95,
            "rows": rows, "generators": overall}


def fix_job_get(*, fix_job_id: int) -> FixJob | None:
    """A fix job with what its output reads: the model version and its Job's retry (the newest attempt)."""
    return FixJob.objects.select_related("model_version", "job__retry").filter(pk=fix_job_id).first()
