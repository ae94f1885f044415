from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "backend.quality"
    label = "quality"
    verbose_name = "Quality tools (ranking, leaderboard, fixing)"
