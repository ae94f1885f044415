from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "backend.quality"
    label = "quality"
    verbose_name = "Quality tools (ranking, leaderboard, fixing)"

    def ready(self) -> None:
        # The fix_image job kind; the label check following stored passes.
        from backend.quality import jobs, receivers  # noqa: F401
