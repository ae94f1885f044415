"""Labelling-time statistics: what labelling costs, per annotator, generator, task, campaign and week.

What is counted (Label Studio's lead_time needs care):
- human passes that were submitted or reviewed, not deleted upstream, with a lead_time;
- only the newest pass when one annotator revised their own labelling: Label Studio's lead_time on an
  updated annotation already includes the time of the earlier versions, so counting the replaced pass
  too would count that time twice (a pass replaced by *another* person's pass is counted: both worked);
- drafts are not counted (Label Studio adds a draft's time again when it is submitted);
- rejected passes (a reviewer's rejection, or a task the annotator skipped in Label Studio) are counted
  apart, as `rejected`, not in the medians.
A pass is "assisted" when its image already had a model annotation (a pre-label) before it was submitted: an
observational split (images with a model pass differ from those without). The randomised measure, from the
campaigns' pre-label holdout, is backend/analytics/randomised.py.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.db.models import Exists, F, OuterRef

from backend.annotations.models import Annotation
from ml.stats import bootstrap_ci, median_difference_ci

GROUPS = ("annotator", "generator", "task", "campaign", "week")


@dataclass(frozen=True)
class Pass:
    seconds: float
    annotator: str
    generator: str
    task: str
    campaigns: tuple[str, ...]
    week: str
    assisted: bool
    prelabel: str = ""  # what the labeller was shown (Annotation.Prelabel), blank when not known


def _base():
    prelabelled = Annotation.objects.filter(
        image=OuterRef("image"), model_version__isnull=False, created_at__lt=OuterRef("submitted_at"))
    return (
        Annotation.objects.filter(user__isnull=False, deleted_at=None, lead_time__isnull=False)
        .exclude(replaced_by__user=F("user"))
        .annotate(assisted=Exists(prelabelled))
    )


def counted_passes(*, generator_id: int | None = None) -> list[Pass]:
    qs = _base().filter(status__in=[Annotation.Status.SUBMITTED, Annotation.Status.REVIEWED])
    if generator_id is not None:
        qs = qs.filter(image__generator_id=generator_id)
    rows = qs.values_list(
        "lead_time", "user__username", "image__generator__name", "image__generator__version",
        "image__task__slug", "submitted_at", "assisted", "prelabel", "image_id",
    )
    campaigns = _campaigns_by_image({row[-1] for row in rows})
    out = []
    for seconds, user, gen_name, gen_version, task, submitted, assisted, prelabel, image_id in rows:
        iso = submitted.isocalendar() if submitted else None
        out.append(Pass(
            seconds=float(seconds), annotator=user, generator=f"{gen_name} {gen_version}".strip(), task=task,
            campaigns=campaigns.get(image_id, ("(none)",)), week=f"{iso.year}-W{iso.week:02d}" if iso else "(unknown)",
            assisted=bool(assisted), prelabel=prelabel,
        ))
    return out


# image ids -> {image id: names of the campaigns it was labelled in}. Campaigns live in the Label Studio gateway,
# above this app: it registers the lookup (register_campaign_lookup); without one every pass is "(none)".
CampaignLookup = Callable[[set[int]], dict[int, tuple[str, ...]]]
_campaign_lookups: list[CampaignLookup] = []


def register_campaign_lookup(lookup: CampaignLookup) -> None:
    if lookup not in _campaign_lookups:
        _campaign_lookups.append(lookup)


def _campaigns_by_image(image_ids: set[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, set[str]] = defaultdict(set)
    for lookup in _campaign_lookups:
        for image_id, names in lookup(image_ids).items():
            found[image_id].update(names)
    return {k: tuple(sorted(v)) for k, v in found.items()}


def summary(seconds: list[float]) -> dict:
    arr = np.asarray(seconds, dtype=float)
    return {
        "count": int(arr.size),
        "median_s": float(np.median(arr)) if arr.size else None,
        "p90_s": float(np.percentile(arr, 90)) if arr.size else None,
        "total_hours": float(arr.sum() / 3600.0),
    }


def assisted_vs_unassisted(passes: list[Pass], *, with_ci: bool = True) -> dict:
    """Summaries of passes with and without a pre-label and the median saving; with_ci adds its bootstrap
    95 % interval (2000 resamples, ml.stats' default: too slow for a page, so the dashboard leaves it out)."""
    assisted = np.asarray([p.seconds for p in passes if p.assisted], dtype=float)
    plain = np.asarray([p.seconds for p in passes if not p.assisted], dtype=float)
    result = {"assisted": summary(assisted.tolist()), "unassisted": summary(plain.tolist()),
              "median_saving_s": None, "median_saving_ci95": None}
    if assisted.size and plain.size:
        result["median_saving_s"] = float(np.median(plain) - np.median(assisted))
        if with_ci:
            result["median_saving_ci95"] = list(median_difference_ci(plain, assisted, seed=1))
    return result


def grouped(passes: list[Pass], group_by: str) -> list[dict]:
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    buckets: dict[str, list[float]] = defaultdict(list)
    for p in passes:
        keys = p.campaigns if group_by == "campaign" else (getattr(p, group_by),)
        for key in keys:
            buckets[key].append(p.seconds)
    return [{group_by: key, **summary(values)} for key, values in sorted(buckets.items())]


def rejected_summary() -> dict:
    seconds = list(_base().filter(status=Annotation.Status.REJECTED).values_list("lead_time", flat=True))
    return summary([float(s) for s in seconds])


def projection(*, generator_id: int, n_images: int) -> dict:
    """Hours to label `n_images` more of a generator, from its own mean time per image (overall if none)."""
    own = np.asarray([p.seconds for p in counted_passes(generator_id=generator_id)], dtype=float)
    basis = "generator"
    if own.size == 0:
        own = np.asarray([p.seconds for p in counted_passes()], dtype=float)
        basis = "all generators"
    if own.size == 0:
        return {"generator": generator_id, "images": n_images, "hours": None, "ci95": None, "basis": "no data"}
    low, high = bootstrap_ci(own, np.mean)
    return {
        "generator": generator_id, "images": n_images, "basis": basis, "based_on": int(own.size),
        "hours": float(own.mean() * n_images / 3600.0),
        "ci95": [low * n_images / 3600.0, high * n_images / 3600.0],
    }
