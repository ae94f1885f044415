from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    label = "learning"
    verbose_name = "Learning loop"

    def ready(self) -> None:
        # Candidate kinds, job kinds, and the reactions to what lower layers announce (a stored human label
        # starts a retrain check).
        from learning import candidates, jobs, receivers  # noqa: F401
