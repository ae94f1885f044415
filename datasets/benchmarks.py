"""Benchmarks (writes): freeze a scope's test set from the global test split, and score model versions on it.

A benchmark lists the human-labelled images of the global test split (datasets/splits.py: the same image is in
the test split of every dataset version, so no model is trained on it) that fall in its scope. Scoring predicts
each image once per model, keeps the per-image confusion counts and sums them into artifact IoU and pixel F1
with 95 % bootstrap intervals (ml/segmentation/bootstrap.py), overall, per task and per generator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from django.conf import settings
from django.db import transaction

from backend.annotations.masks import mask_decode
from backend.core.blobs import blob_read
from backend.core.exceptions import ApplicationError
from backend.core.models import Blob
from backend.images.models import GeneratedImage, Generator, SynthesisTask
from backend.images.selectors import image_pixels
from backend.jobs.services import job_create
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import segmenter_predictor
from datasets.models import DEFAULT_SPLITS, Benchmark, BenchmarkScore, Dataset
from datasets.selection import SelectedImage, Selection, group_hashes, selected
from datasets.selectors import benchmarks_visible_to
from datasets.splits import global_split
from ml.segmentation.bootstrap import score_summary
from ml.segmentation.metrics import artifact_confusion

Progress = Callable[[float, str], None]
SCOPE_KINDS = ("global", "generator", "task")


def scope_parse(scope: str) -> tuple[str, str]:
    """("global", "") | ("generator", name) | ("task", slug); ApplicationError naming what is wrong."""
    kind, _, value = (scope or "").partition(":")
    if kind == "global" and not value:
        return kind, ""
    if kind in ("generator", "task") and value.strip():
        return kind, value.strip()
    raise ApplicationError(f"benchmark scope must be global, generator:<name> or task:<slug>, not {scope!r}")


def global_test_ids(images: list[SelectedImage | GeneratedImage]) -> set[int]:
    """Those of `images` in the global test split: their group under the default group key (a fix joins its
    source) and the default shares, where every dataset with that key and a test share at least DEFAULT_SPLITS'
    puts them in test (datasets/splits.py)."""
    groups = group_hashes(images, Dataset.GroupKey.IMAGE)
    return {pk for pk, group in groups.items()
            if global_split(group, shares=DEFAULT_SPLITS, seed=settings.FLAWMAP_SPLIT_SEED) == "test"}


def _scope_selection(kind: str, value: str) -> Selection:
    """The scope's images under the benchmark's label policy: the latest submitted or reviewed human pass."""
    if kind == "generator":
        ids = tuple(Generator.objects.filter(name=value).values_list("id", flat=True))
        if not ids:
            raise ApplicationError(f"no generator named {value!r}")
        return Selection(generator_ids=ids)
    if kind == "task":
        ids = tuple(SynthesisTask.objects.filter(slug=value).values_list("id", flat=True))
        if not ids:
            raise ApplicationError(f"no synthesis task {value!r}")
        return Selection(task_ids=ids)
    return Selection()


def benchmark_items(*, scope: str) -> list[dict]:
    """The scope's images in the global test split with a human mask (or a human "no artifacts"), each with the
    annotation that is its truth (the latest submitted or reviewed human one), in content-hash order."""
    items = []
    for batch in selected(_scope_selection(*scope_parse(scope))):
        test_ids = global_test_ids(batch)
        items += [{"image": image.pk, "sha256": image.blob_id, "annotation": image.annotation_id,
                   "mask_sha256": image.mask_sha256, "task": image.task.slug, "generator": str(image.generator)}
                  for image in batch if image.pk in test_ids and image.source == "human"
                  # boxes or a caption only: no pixel truth to score a segmenter against
                  and (image.mask_sha256 or image.no_artifacts)]
    return items


@transaction.atomic
def benchmark_create(*, scope: str, min_images: int, name: str = "", created_by=None) -> Benchmark:
    """Freeze the scope's labelled test images as a benchmark (named after the scope unless `name` is given);
    refused with fewer than `min_images` of them. Every segmenter is then scored on it (a job each)."""
    scope_parse(scope)
    name = name or scope
    if min_images < 1:
        raise ApplicationError(f"min_images must be at least 1, not {min_images}")
    existing = Benchmark.objects.filter(name=name).first()
    if existing is not None:
        raise ApplicationError(f"benchmark {name!r} already exists (id {existing.pk}, {existing.n_images} images); "
                               "a benchmark never changes: give the new one another name")
    items = benchmark_items(scope=scope)
    if len(items) < min_images:
        raise ApplicationError(f"{scope}: {len(items)} human-labelled image(s) in the global test split, fewer "
                               f"than the {min_images} asked for (min_images)")
    benchmark = Benchmark.objects.create(scope=scope, name=name, items=items, n_images=len(items),
                                         min_images=min_images, created_by=created_by)
    for model_id in ModelVersion.objects.filter(kind=ModelVersion.Kind.SEGMENTER).exclude(checkpoint=None) \
            .values_list("pk", flat=True):
        benchmark_score_enqueue(model_version_id=model_id)
    return benchmark


def benchmark_score_enqueue(*, model_version_id: int):
    """Queue a `benchmark_score` job (queue gpu) for the model version; it scores every benchmark it has not."""
    job, _ = job_create(kind="benchmark_score", params={"model_version_id": model_version_id})
    return job


def _truth(item: dict, image: GeneratedImage) -> np.ndarray:
    if not item["mask_sha256"]:
        return np.zeros((image.height, image.width), np.uint8)  # labelled "no artifacts"
    blob = Blob.objects.get(pk=item["mask_sha256"])
    return mask_decode(blob_read(blob), width=image.width, height=image.height).astype(np.uint8)


def _image_counts(model_version: ModelVersion, items: list[dict], progress: Progress) -> Iterator[tuple[int, dict]]:
    """(image id, {tp, fp, fn}) for each distinct image of `items` that still exists, predicted in batches."""
    by_image = {item["image"]: item for item in items}
    images = list(GeneratedImage.objects.filter(pk__in=by_image).select_related("blob").order_by("pk"))
    predictor = segmenter_predictor(model_version)
    step = predictor.batch_size
    for start in range(0, len(images), step):
        batch = images[start : start + step]
        for image, (mask, _, _) in zip(batch, predictor.iter_predict([image_pixels(i) for i in batch])):
            yield image.pk, artifact_confusion(mask, _truth(by_image[image.pk], image))
        progress(min(1.0, (start + len(batch)) / max(1, len(images))), f"{start + len(batch)}/{len(images)} images")


def _grouped(rows: list[dict], key: str) -> dict[str, dict]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return {name: score_summary(group) for name, group in sorted(groups.items())}


def score_metrics(rows: list[dict]) -> dict:
    """A BenchmarkScore's metrics from its per-image rows: overall, per task and per generator."""
    overall = score_summary(rows)
    return {"iou": overall["iou"], "iou_ci": overall["iou_ci"], "f1": overall["f1"], "f1_ci": overall["f1_ci"],
            "n_images": overall["n"], "per_task": _grouped(rows, "task"), "per_generator": _grouped(rows, "generator")}


def model_benchmarks_score(*, model_version: ModelVersion, progress: Progress | None = None) -> list[BenchmarkScore]:
    """Score the model version on every benchmark it can see and has no score on yet; returns the new scores.

    Each image is predicted once, however many benchmarks list it; images deleted since a benchmark was frozen
    are left out of its score (n_images says how many counted)."""
    report = progress or (lambda fraction, message: None)
    todo = list(benchmarks_visible_to(model_version=model_version).exclude(scores__model_version=model_version))
    if not todo:
        return []
    counts = dict(_image_counts(model_version, [item for b in todo for item in b.items], report))
    scores = []
    for benchmark in todo:
        rows = [{"image": item["image"], "task": item["task"], "generator": item["generator"],
                 "inter": c["tp"], "union": c["tp"] + c["fp"] + c["fn"], **c}
                for item in benchmark.items if (c := counts.get(item["image"])) is not None]
        with transaction.atomic():
            score, _ = BenchmarkScore.objects.update_or_create(
                model_version=model_version, benchmark=benchmark,
                defaults={"metrics": score_metrics(rows), "items": rows})
        scores.append(score)
    return scores
