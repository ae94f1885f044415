from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    label = "annotator"
    verbose_name = "Label Studio integration"
