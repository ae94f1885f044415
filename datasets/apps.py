from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    label = "datasets"
    verbose_name = "Dataset versions and exports"

    def ready(self) -> None:
        # The build and export job kinds, and the export formats this app defines (apps above add their own).
        from datasets import jobs  # noqa: F401
        from datasets.exporters import coco, pal4vst, synartifact, vlm_jsonl  # noqa: F401
