from django.apps import AppConfig


class MlModelsConfig(AppConfig):
    name = "backend.mlmodels"
    label = "mlmodels"
    verbose_name = "Model versions"

    def ready(self) -> None:
        from backend.mlmodels import jobs, receivers  # noqa: F401  (pre-label job kinds; pre-label new images)
