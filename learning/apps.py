from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    label = "learning"
    verbose_name = "Learning loop"

    def ready(self) -> None:
        # Candidate kinds, job kinds, and the reactions to what lower layers announce (a stored human label
        # starts a retrain check); a training worker logs its segmenter config at start-up.
        from learning import candidates, jobs, receivers, segmenter_config  # noqa: F401
