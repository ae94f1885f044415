from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "backend.jobs"
    label = "jobs"

    def ready(self) -> None:
        from backend.jobs import handlers  # noqa: F401  (job kinds register their handlers)
