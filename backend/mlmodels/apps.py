from django.apps import AppConfig


class MlModelsConfig(AppConfig):
    name = "backend.mlmodels"
    label = "mlmodels"
    verbose_name = "Model versions"
