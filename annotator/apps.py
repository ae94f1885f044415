from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    label = "annotator"
    verbose_name = "Label Studio integration"

    def ready(self) -> None:
        # Push/reconcile job kinds, the Label Studio export format, pushing new pre-labels into open tasks, and
        # the campaigns of each image for the labelling-time statistics.
        from annotator import exporter, jobs, receivers  # noqa: F401
