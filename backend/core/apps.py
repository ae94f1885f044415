from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "backend.core"
    label = "core"
    verbose_name = "Flawmap core"

    def ready(self) -> None:
        from django.core import checks

        from backend.core.secrets import secrets_check

        # Not a deploy-only check: every management command (migrate, runserver, demo ...) refuses known secrets.
        checks.register(secrets_check, checks.Tags.security)
