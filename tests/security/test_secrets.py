"""Known secrets are refused: with DJANGO_DEBUG off no Flawmap process starts on a missing, short or placeholder
DJANGO_SECRET_KEY or LABEL_STUDIO_WEBHOOK_SECRET (backend/core/secrets.py), production settings pass
`check --deploy`, and a local setup gets random secrets written once (scripts/dev_secrets.py).

The processes are real: `manage.py check`, a Celery worker, gunicorn and the uvicorn ingress, each started as a
subprocess on its own var folder (so this machine's var/dev-secrets.env is not found).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from annotator.webhook_check import WebhookRejected, webhook_secret_check
from backend.core.secrets import RULES, secret_problem

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
BIN = Path(sys.executable).parent
KEY, WEBHOOK = "DJANGO_SECRET_KEY", "LABEL_STUDIO_WEBHOOK_SECRET"
GOOD = {KEY: secrets.token_urlsafe(48), WEBHOOK: secrets.token_urlsafe(36)}
MIN_LENGTH = {KEY: 50, WEBHOOK: 32}
CHECK_ID = {KEY: "flawmap.E001", WEBHOOK: "flawmap.E002"}
START_TIMEOUT = 90


def _bad_values(variable: str) -> dict[str, str]:
    """Every kind of value the rule refuses ("" = unset: an empty variable also keeps a .env from filling it)."""
    n = MIN_LENGTH[variable]
    return {
        "unset": "",
        "short": secrets.token_urlsafe(64)[: n - 1],
        "change-me": "change-me-" + secrets.token_urlsafe(64),
        "insecure": "django-insecure-" + secrets.token_urlsafe(64),
        "example": secrets.token_urlsafe(24) + "-example-" + secrets.token_urlsafe(24),
    }


CASES = [(variable, kind, value) for variable in (KEY, WEBHOOK) for kind, value in _bad_values(variable).items()]


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A production-like environment: DEBUG off, good secrets, a var folder of its own, then the overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAWMAP_HTTPS")}
    env.update({"DJANGO_SETTINGS_MODULE": "backend.config.settings", "DJANGO_DEBUG": "false",
                "FLAWMAP_VAR_DIR": str(tmp_path / "var"), **GOOD, **overrides})
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=START_TIMEOUT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("variable", "kind", "value"), CASES, ids=[f"{v}-{k}" for v, k, _ in CASES])
def test_manage_py_check_refuses_each_bad_secret(tmp_path, variable, kind, value):
    result = _run([PY, "manage.py", "check"], _env(tmp_path, **{variable: value}))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    (line,) = [line for line in output.splitlines() if CHECK_ID[variable] in line]
    assert variable in line, output
    other = WEBHOOK if variable == KEY else KEY
    assert CHECK_ID[other] not in output, "the good secret was refused too"


def test_real_secrets_and_production_settings_pass_check_deploy_at_warning_level(tmp_path):
    env = _env(tmp_path, FLAWMAP_HTTPS="true", FLAWMAP_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    result = _run([PY, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_without_https_check_deploy_names_what_production_lacks(tmp_path):
    """The demo's plain-HTTP defaults (cookies a browser sends over http://127.0.0.1) are what --deploy flags."""
    result = _run([PY, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], _env(tmp_path))
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr, result.stderr


def test_the_webhook_secret_is_never_derived_from_the_key_with_debug_off(tmp_path):
    show = [PY, "-c", "import django; django.setup(); from django.conf import settings; "
                      "print(repr(settings.LABEL_STUDIO_WEBHOOK_SECRET))"]
    off = _run(show, _env(tmp_path, **{WEBHOOK: ""}))
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == "''"
    # With DEBUG on a developer's machine still works without any secret (derived, not refused)
    on = _run(show, _env(tmp_path, DJANGO_DEBUG="true", **{KEY: "", WEBHOOK: ""}))
    assert on.returncode == 0 and len(on.stdout.strip().strip("'")) == 64, on.stderr
    checked = _run([PY, "manage.py", "check"], _env(tmp_path, DJANGO_DEBUG="true", **{KEY: "", WEBHOOK: ""}))
    assert checked.returncode == 0, checked.stderr


def _assert_refused(result: subprocess.CompletedProcess, variable: str, what: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{what} started with a placeholder {variable}:\n{output[-3000:]}"
    assert f"{what} refuses to start" in output and variable in output, output[-3000:]


def test_celery_worker_refuses_a_placeholder_key(tmp_path):
    env = _env(tmp_path, **{KEY: "change-me-" + "x" * 60},
               CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:9/0")
    result = _run([PY, "-m", "celery", "-A", "backend.config", "worker", "--pool", "solo", "--without-mingle",
                   "--without-gossip", "--queues", f"refused-{os.getpid()}"], env)
    _assert_refused(result, KEY, "the Celery worker")


def test_webhook_ingress_refuses_a_placeholder_webhook_secret(tmp_path):
    env = _env(tmp_path, **{WEBHOOK: "insecure-webhook-secret-" + "x" * 40},
               FLAWMAP_WEBHOOK_STREAM_URL="redis://127.0.0.1:9/0")
    for workers in ("1", "2"):  # under a supervisor too: uvicorn stops instead of restarting the worker
        result = _run([str(BIN / "uvicorn"), "annotator.webhook_ingress:app", "--host", "127.0.0.1",
                       "--port", str(_free_port()), "--workers", workers], env)
        output = result.stdout + result.stderr
        assert "the webhook ingress refuses to start" in output and WEBHOOK in output, output[-3000:]
        if workers == "1":
            assert result.returncode != 0


def test_gunicorn_web_app_refuses_an_unset_key_and_stops(tmp_path):
    result = _run([str(BIN / "gunicorn"), "backend.config.wsgi:application", "--bind", f"127.0.0.1:{_free_port()}",
                   "--workers", "2"], _env(tmp_path, **{KEY: ""}))
    _assert_refused(result, KEY, "the web app")
    assert "Worker failed to boot" in result.stderr  # gunicorn halts rather than restarting workers for ever


def test_dev_secrets_are_written_once_to_a_fresh_var_folder_and_reused(tmp_path):
    var = tmp_path / "fresh" / "var"  # neither folder exists, as on a fresh clone
    env = _env(tmp_path, FLAWMAP_VAR_DIR=str(var), **{KEY: "", WEBHOOK: ""})
    first = _run([PY, "scripts/dev_secrets.py"], env)
    assert first.returncode == 0, first.stderr
    path = var / "dev-secrets.env"
    content = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = dict(re.findall(r"^(\w+)=(\S+)$", content, re.M))
    assert set(values) == {KEY, WEBHOOK}
    for rule in RULES:
        assert secret_problem(value=values[rule.variable], rule=rule) is None
    second = _run([PY, "scripts/dev_secrets.py"], env)
    assert second.returncode == 0 and path.read_text() == content
    # The settings read the file last: with DEBUG off and nothing in the environment, Flawmap now starts
    checked = _run([PY, "manage.py", "check"], env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # ... while a value in the environment wins over the file (and is judged on its own)
    refused = _run([PY, "manage.py", "check"], {**env, KEY: "change-me-" + "y" * 60})
    assert refused.returncode != 0 and CHECK_ID[KEY] in refused.stderr


@pytest.mark.parametrize("target", ["demo", "migrate", "serve", "worker", "webhook-ingress", "schema", "test"])
def test_make_targets_that_run_the_app_write_dev_secrets_first(target):
    dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    secrets_at = next(i for i, line in enumerate(lines) if "scripts/dev_secrets.py" in line)
    app_at = next(i for i, line in enumerate(lines) if re.search(r"manage\.py|celery|uvicorn|pytest", line))
    assert secrets_at < app_at, dry.stdout


def test_an_unconfigured_webhook_secret_matches_nothing():
    with pytest.raises(WebhookRejected) as refused:
        webhook_secret_check(given_secret=b"", expected_secret=b"")
    assert refused.value.status == 403


@pytest.mark.django_db
def test_schema_and_docs_need_a_role(viewer_client):
    from django.contrib.auth.models import User

    for i, url in enumerate(("/api/schema/", "/api/docs/")):
        assert APIClient().get(url).status_code in (401, 403), url
        nobody = APIClient()
        nobody.force_authenticate(User.objects.create_user(username=f"no-role-{i}"))
        assert nobody.get(url).status_code == 403, url
        assert viewer_client.get(url).status_code == 200, url
