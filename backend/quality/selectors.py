"""Reads for the quality tools: best-of-N picks, the generator leaderboard, fix jobs."""

from __future__ import annotations

from collections import defaultdict
from functools import reduce
from itertools import groupby
from operator import or_

from django.conf import settings
from django.db.models import Avg, Count, F, OuterRef, Q, QuerySet, StdDev, Subquery
from django.http import QueryDict

from backend.annotations.models import MaskLabel
from backend.core.exceptions import ApplicationError
from backend.images.models import GeneratedImage
from backend.images.selectors import image_list
from backend.quality.models import FixJob
from ml.stats import BOOTSTRAP_RESAMPLES, LEVEL, bootstrap_ci, normal_mean_ci

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


def _par_summary(*, n: int, mean: float, sd: float | None, free: int, values: list[float] | None,
                 max_n: int) -> dict:
    """images, mean PAR, its 95 % CI and the artifact-free count and share of one group. The CI is a percentile
    bootstrap of the group's values when it has at most `max_n`; above, mean ± z·sd/√n from its aggregates
    (the bootstrap costs 2000 × n draws, and at that n the central limit theorem makes both agree)."""
    if n > max_n:
        ci, method = normal_mean_ci(mean=mean, sd=sd or 0.0, n=n), "normal"
    else:
        # None only when the group's images went between the two queries (deleted or re-scored meanwhile)
        ci, method = bootstrap_ci(values or []), "bootstrap"
    return {"images": n, "mean_par": mean, "ci95": list(ci) if ci else None, "ci_method": method,
            "artifact_free": free, "artifact_free_share": free / n}


def _pooled(groups: list[dict]) -> dict:
    """n, mean, sample sd and artifact-free count of the union of groups, from each group's own (parallel
    variance formula: within-group squares plus the spread of the group means)."""
    n = sum(g["n"] for g in groups)
    mean = sum(g["n"] * g["mean"] for g in groups) / n
    squares = sum((g["n"] - 1) * (g["sd"] or 0.0) ** 2 + g["n"] * (g["mean"] - mean) ** 2 for g in groups)
    return {"n": n, "mean": mean, "sd": (squares / (n - 1)) ** 0.5 if n > 1 else None,
            "free": sum(g["free"] for g in groups)}


def generator_leaderboard(*, source: str, task: str | None = None, model_version=None) -> dict:
    """Mean PAR per generator version and task, with 95 % CIs and the artifact-free share; and the same per
    generator over all tasks. Two queries whatever the number of generators and images: the aggregates, then
    the values of the groups small enough to bootstrap (settings.FLAWMAP_LEADERBOARD_BOOTSTRAP_MAX_N); larger
    groups' values are never read."""
    if source not in SOURCES:
        raise ApplicationError(f"source must be one of {', '.join(SOURCES)}")
    max_n = settings.FLAWMAP_LEADERBOARD_BOOTSTRAP_MAX_N
    qs = _scored_images(source=source, task=task, model_version=model_version)
    keys = ("generator_id", "generator__name", "generator__version", "task_id", "task__slug")
    aggregated = list(qs.values(*keys).annotate(
        n=Count("id"), mean=Avg("score"), sd=StdDev("score", sample=True), free=Count("id", filter=Q(score=0)),
    ).order_by())
    small = [g for g in aggregated if g["n"] <= max_n]
    values: dict[tuple, list[float]] = defaultdict(list)
    if small:
        if len(small) < len(aggregated):
            qs = qs.filter(reduce(or_, (Q(generator_id=g["generator_id"], task_id=g["task_id"]) for g in small)))
        for generator_id, task_id, score in qs.values_list("generator_id", "task_id", "score").order_by():
            values[generator_id, task_id].append(score)

    def generator_of(group) -> dict:
        return {"id": group["generator_id"], "name": group["generator__name"], "version": group["generator__version"]}

    summaries = {(g["generator_id"], g["task_id"]): _par_summary(
        n=g["n"], mean=g["mean"], sd=g["sd"], free=g["free"], values=values.get((g["generator_id"], g["task_id"])),
        max_n=max_n) for g in aggregated}
    rows = [{"generator": generator_of(g), "task": g["task__slug"], **summaries[g["generator_id"], g["task_id"]]}
            for g in aggregated]
    rows.sort(key=lambda r: (r["task"], r["mean_par"], r["generator"]["name"], r["generator"]["version"]))
    for task_slug, task_rows in groupby(rows, key=lambda r: r["task"]):
        for rank, row in enumerate(task_rows, start=1):
            row["rank"] = rank  # within the task; 1 = fewest artifacts
    by_generator: dict[int, list[dict]] = defaultdict(list)
    for g in aggregated:
        by_generator[g["generator_id"]].append(g)
    overall = []
    for generator_id, groups in by_generator.items():
        if len(groups) == 1:  # one task: the same values, so the same summary (and no second bootstrap)
            summary = summaries[generator_id, groups[0]["task_id"]]
        else:
            pooled = _pooled(groups)
            # a pooled group of at most max_n values is made of small groups only: their values were read
            pooled_values = ([v for g in groups for v in values.get((generator_id, g["task_id"]), [])]
                             if pooled["n"] <= max_n else None)
            summary = _par_summary(**pooled, values=pooled_values, max_n=max_n)
        overall.append({"generator": generator_of(groups[0]), "task": None, **summary})
    overall.sort(key=lambda r: (r["mean_par"], r["generator"]["name"], r["generator"]["version"]))
    for rank, row in enumerate(overall, start=1):
        row["rank"] = rank
    return {"source": source, "task": task, "resamples": BOOTSTRAP_RESAMPLES, "confidence": LEVEL,
            "bootstrap_max_n": max_n, "rows": rows, "generators": overall}


def fix_job_get(*, fix_job_id: int) -> FixJob | None:
    """A fix job with what its output reads: the model version and its Job's retry (the newest attempt)."""
    return FixJob.objects.select_related("model_version", "job__retry").filter(pk=fix_job_id).first()
