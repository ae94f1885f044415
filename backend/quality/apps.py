from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "backend.quality"
    label = "quality"
    verbose_name = "Quality tools (ranking, leaderboard, fixing)"

    def ready(self) -> None:
        from backend.quality import jobs  # noqa: F401  (registers the fix_image job kind)
