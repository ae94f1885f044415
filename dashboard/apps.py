from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from dashboard.browse import jobs, receivers  # noqa: F401  (the thumbnail job kind and its triggers)
