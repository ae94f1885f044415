from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    label = "datasets"
    verbose_name = "Dataset versions and exports"

    def ready(self) -> None:
        # The build, export and benchmark_score job kinds, the export formats this app defines (apps above add
        # their own), and the benchmark scoring of every newly registered model.
        from datasets import jobs, receivers  # noqa: F401
        from datasets.exporters import coco, pal4vst, synartifact, vlm_jsonl  # noqa: F401
