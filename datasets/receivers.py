"""The datasets app's reactions to what the layers below it announce."""

from django.dispatch import receiver

from backend.mlmodels.models import ModelVersion
from backend.mlmodels.signals import model_registered
from datasets.benchmarks import benchmark_score_enqueue
from datasets.selectors import benchmarks_visible_to


@receiver(model_registered, dispatch_uid="datasets.score_new_model_on_benchmarks")
def score_new_model_on_benchmarks(sender, *, model_version: ModelVersion, **kwargs) -> None:
    """Every registered model (trained here, imported, or added with `model_register`) gets its benchmark scores;
    no job when it can see no benchmark (before the first one exists, or a VLM)."""
    if benchmarks_visible_to(model_version=model_version).exists():
        benchmark_score_enqueue(model_version_id=model_version.pk)
