"""Refuse known secrets: with DEBUG off no process runs on a missing, short or placeholder secret.

Whoever knows DJANGO_SECRET_KEY forges signed image links (every image, no login) and sessions; whoever knows
LABEL_STUDIO_WEBHOOK_SECRET forges webhook deliveries (labels). A key copied from .env.example or a default in
the code is known to everyone, so such a value is as bad as none.

The same rule runs as a Django system check (`manage.py check`, runserver and every management command) and,
because gunicorn, Celery and uvicorn never run system checks, explicitly at their start (`secrets_refuse_weak`
from backend/config/wsgi.py, backend/config/celery.py and annotator/webhook_ingress.py).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

# Words that mark a value somebody wrote as an example; a real secret is random.
PLACEHOLDER_WORDS = ("change-me", "changeme", "insecure", "example")


@dataclass(frozen=True)
class SecretRule:
    check_id: str
    variable: str  # the environment variable that sets it
    setting: str  # the Django setting it ends up in
    min_length: int


RULES = (
    SecretRule("flawmap.E001", "DJANGO_SECRET_KEY", "SECRET_KEY", 50),
    SecretRule("flawmap.E002", "LABEL_STUDIO_WEBHOOK_SECRET", "LABEL_STUDIO_WEBHOOK_SECRET", 32),
)

HINT = ("Set it to a long random value, e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'; "
        "`make dev-secrets` writes random ones to the var folder for a local setup.")


def secret_problem(*, value: str, rule: SecretRule) -> str | None:
    """Why this value can't be the secret, or None when it can."""
    if not value:
        return f"{rule.variable} is not set"
    if len(value) < rule.min_length:
        return f"{rule.variable} is shorter than {rule.min_length} characters"
    lowered = value.lower()
    word = next((w for w in PLACEHOLDER_WORDS if w in lowered), None)
    if word is not None:
        return f"{rule.variable} contains the placeholder word {word!r}"
    return None


def secret_problems() -> list[tuple[SecretRule, str]]:
    """Every unacceptable secret of the configured settings; none while DEBUG is on (a developer's machine)."""
    if settings.DEBUG:
        return []
    problems = []
    for rule in RULES:
        try:
            value = getattr(settings, rule.setting, "") or ""
        except ImproperlyConfigured:  # Django's own refusal of an empty SECRET_KEY: ours names the variable
            value = ""
        problem = secret_problem(value=value, rule=rule)
        if problem is not None:
            problems.append((rule, problem))
    return problems


def secrets_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The system check (registered in backend.core's AppConfig.ready)."""
    return [checks.Error(f"{problem} (DJANGO_DEBUG is off)", hint=HINT, id=rule.check_id)
            for rule, problem in secret_problems()]


# The exit status gunicorn (WORKER_BOOT_ERROR) and uvicorn (STARTUP_FAILURE) both read as "the app can't start,
# stop" rather than restarting the worker for ever.
STARTUP_FAILURE = 3


def secrets_refuse_weak(*, process: str) -> None:
    """For processes that run no system checks: print one line per bad secret to stderr and exit (status 3)."""
    problems = secret_problems()
    if problems:
        lines = "\n".join(f"  {rule.check_id}: {problem}" for rule, problem in problems)
        print(f"{process} refuses to start (DJANGO_DEBUG is off):\n{lines}\n{HINT}", file=sys.stderr, flush=True)
        # SystemExit, not an exception: Celery logs a signal handler's exception and starts anyway.
        raise SystemExit(STARTUP_FAILURE)
