from django.db.models import Prefetch, QuerySet

from backend.mlmodels.models import ModelVersion
from datasets.models import Benchmark, BenchmarkScore, Dataset, DatasetItem, DatasetVersion, Export


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.prefetch_related("generators", "tasks")


def version_list(*, dataset: Dataset) -> QuerySet[DatasetVersion]:
    """Only complete versions: one still building (or abandoned by a crash) is not a version yet."""
    return dataset.versions.filter(status=DatasetVersion.Status.READY).select_related("author", "parent")


def version_diff(*, a: DatasetVersion, b: DatasetVersion) -> dict:
    """What changed from a to b, by image content: added, removed, relabelled (other label), moved split."""
    def index(version):
        fields = ("image_sha256", "image_id", "annotation_id", "mask_sha256", "regions", "split")
        return {row[0]: row[1:] for row in DatasetItem.objects.filter(version=version).values_list(*fields)}

    old, new = index(a), index(b)
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    relabelled = sorted(s for s in set(old) & set(new) if old[s][1:4] != new[s][1:4])
    moved = sorted(s for s in set(old) & set(new) if old[s][4] != new[s][4])

    def rows(shas, source):
        return [{"image_sha256": s, "image_id": source[s][0], "split": source[s][4]} for s in shas]

    return {
        "from": a.number, "to": b.number,
        "counts": {"added": len(added), "removed": len(removed), "relabelled": len(relabelled),
                   "moved_split": len(moved)},
        "added": rows(added, new), "removed": rows(removed, old), "relabelled": rows(relabelled, new),
        "moved_split": rows(moved, new),
    }


def dataset_get(*, dataset_id: int) -> Dataset | None:
    return Dataset.objects.filter(pk=dataset_id).first()


def dataset_version_get(*, version_id: int) -> DatasetVersion | None:
    return DatasetVersion.objects.select_related("dataset").filter(pk=version_id).first()


def version_get(*, dataset_id: int, number: int, ready: bool = True) -> DatasetVersion | None:
    """A dataset's version by number; only complete ones unless `ready` is False."""
    qs = DatasetVersion.objects.filter(dataset_id=dataset_id, number=number).select_related("author", "parent")
    return (qs.filter(status=DatasetVersion.Status.READY) if ready else qs).first()


def version_item_list(*, version: DatasetVersion, split: str | None = None) -> QuerySet[DatasetItem]:
    qs = DatasetItem.objects.filter(version=version).order_by("image_sha256")
    return qs.filter(split=split) if split else qs


def export_get(*, export_id: int, done: bool = False) -> Export | None:
    """An export with what its API view shows (version, dataset, its job's retry); only finished ones with
    `done`."""
    qs = Export.objects.select_related("version__dataset", "job__retry", "archive").filter(pk=export_id)
    return (qs.filter(status=Export.Status.DONE) if done else qs).first()


def version_reference(version: DatasetVersion) -> dict:
    """How a model version names the dataset version it was trained on (ModelVersion.trained_on)."""
    return {"dataset": version.dataset.name, "number": version.number, "id": version.pk}


def version_of_model(model_version: ModelVersion) -> DatasetVersion | None:
    """The dataset version a model was trained on, when it names one."""
    version_id = (model_version.trained_on or {}).get("id")
    return DatasetVersion.objects.filter(pk=version_id).first() if version_id else None


def models_trained_on(*, version: DatasetVersion) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(trained_on__id=version.pk).order_by("created_at")


def benchmark_list(*, scope: str | None = None) -> QuerySet[Benchmark]:
    """Benchmarks without their frozen item lists (those can be long): scope, name, size, when."""
    qs = Benchmark.objects.defer("items")
    return qs.filter(scope=scope) if scope else qs


def benchmark_get(*, name: str) -> Benchmark | None:
    return Benchmark.objects.defer("items").filter(name=name).first()


def benchmarks_visible_to(*, model_version: ModelVersion) -> QuerySet[Benchmark]:
    """The benchmarks a model version is scored on: every one for a segmenter with weights; none for other kinds
    (a VLM classifies boxes, it draws no masks to score)."""
    if model_version.kind != ModelVersion.Kind.SEGMENTER or model_version.checkpoint_id is None:
        return Benchmark.objects.none()
    return Benchmark.objects.all()


def benchmark_scores_of(*, model_version_ids) -> QuerySet[BenchmarkScore]:
    """Scores of these model versions, with their benchmark, without the per-image rows."""
    return (BenchmarkScore.objects.filter(model_version_id__in=model_version_ids).select_related("benchmark")
            .defer("items", "benchmark__items").order_by("model_version_id", "benchmark__scope", "benchmark_id"))


def with_benchmark_scores(models: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    """The model versions with their benchmark scores prefetched (one query for a page of them)."""
    scores = (BenchmarkScore.objects.select_related("benchmark").defer("items", "benchmark__items")
              .order_by("benchmark__scope", "benchmark_id"))
    return models.prefetch_related(Prefetch("benchmark_scores", queryset=scores))
