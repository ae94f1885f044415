"""Validate the production stack definition in docker-compose.yml.

Plain pytest (no Django import, no database), so it runs the same with or
without pytest-django. The checks that need the `docker-compose` CLI skip when
it is missing; install it with scripts/install_system_deps.sh. No Docker
daemon is needed: `docker-compose config` only parses, validates and
interpolates the file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"

# Secrets the file requires with ${VAR:?message}; dummy values for validation.
REQUIRED_SECRETS = {
    "POSTGRES_PASSWORD": "dummy-postgres-password",
    "DJANGO_SECRET_KEY": "dummy-django-secret-key",
    "LABEL_STUDIO_WEBHOOK_SECRET": "dummy-webhook-secret",
}

# The app's settings read exactly these; every Flawmap container must get them.
APP_ENV_VARS = {
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "FLAWMAP_STORAGE",
    "FLAWMAP_MEDIA_ROOT",
    "FLAWMAP_S3_BUCKET",
    "FLAWMAP_S3_ENDPOINT_URL",
    "FLAWMAP_S3_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "FLAWMAP_MAX_PIXELS",
    "LABEL_STUDIO_URL",
    "LABEL_STUDIO_API_KEY",
    "LABEL_STUDIO_WEBHOOK_SECRET",
    "FLAWMAP_PUBLIC_URL",
    "FLAWMAP_HTTPS",
    "FLAWMAP_SECURE_PROXY_SSL_HEADER",
}

REQUIRED_SERVICES = {"postgres", "redis", "web", "worker", "worker-gpu", "beat", "labelstudio",
                     "webhook-ingress", "webhook-drain"}
APP_SERVICES = ("web", "worker", "worker-ml-cpu", "worker-gpu", "inference-cpu", "inference-gpu", "beat",
                "webhook-drain")
# The services that run the `cpu` image (worker-gpu and inference-gpu run the `cuda` one).
CPU_IMAGE_SERVICES = ("migrate", "web", "worker", "worker-ml-cpu", "inference-cpu", "beat", "webhook-ingress",
                      "webhook-drain")
# Profile cpu's service -> profile gpu's service doing the same work on the GPU.
CPU_GPU_PAIRS = {"worker-ml-cpu": "worker-gpu", "inference-cpu": "inference-gpu"}

# stderr lines that do not indicate a problem with the file itself: Python
# deprecation warnings from docker-compose 1.x's own dependencies (normally
# silenced by PYTHONWARNINGS=ignore below; kept as a fallback).
HARMLESS_STDERR = [
    re.compile(r"^\S+\.py:\d+: \w*(Deprecation|Pending)\w*Warning: "),
]

INSTALL_HINT = (
    "docker-compose is not on PATH; install it with scripts/install_system_deps.sh"
)


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.skip(INSTALL_HINT)
    return path


def _run_compose(tmp_path: Path, *args: str, env_overrides: dict | None = None, drop=()):
    """Run docker-compose against COMPOSE_FILE in a hermetic environment.

    Only PATH/locale survive from the caller's environment, and an empty
    --env-file and project directory replace the repo's `.env`, so a developer's
    local secrets can neither satisfy nor break the checks.
    """
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    env["HOME"] = str(tmp_path)  # no ~/.docker config influence
    env["PYTHONWARNINGS"] = "ignore"  # docker-compose 1.x is a Python program
    env.update(REQUIRED_SECRETS)
    env.update(env_overrides or {})
    for name in drop:
        env.pop(name, None)
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    # The services' `env_file: .env` resolves in the project directory: an empty one here, not the checkout's.
    (tmp_path / ".env").touch()
    return subprocess.run(
        [
            _docker_compose(),
            "-f",
            str(COMPOSE_FILE),
            "--project-directory",
            str(tmp_path),
            "--env-file",
            str(empty_env_file),
            *args,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _unexpected_stderr(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not any(p.search(line) for p in HARMLESS_STDERR)
    ]


def _load_yaml(text: str) -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(text)


def _command(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def _environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):  # "KEY=value" list form
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


# --- validation through the docker-compose CLI -------------------------------


def test_compose_config_is_valid_with_required_vars(tmp_path):
    result = _run_compose(tmp_path, "config", "-q")
    assert result.returncode == 0, result.stderr
    # Also catches "The X variable is not set. Defaulting to a blank string.",
    # i.e. a ${VAR} reference without a default or a required marker.
    assert _unexpected_stderr(result.stderr) == []


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
@pytest.mark.parametrize("secret", ["POSTGRES_PASSWORD", "DJANGO_SECRET_KEY", "LABEL_STUDIO_WEBHOOK_SECRET"])
def test_compose_config_requires_production_secrets(tmp_path, secret, value):
    if value is None:
        result = _run_compose(tmp_path, "config", "-q", drop=[secret])
    else:
        result = _run_compose(tmp_path, "config", "-q", env_overrides={secret: value})
    assert result.returncode != 0, f"config accepted a missing {secret}"
    output = result.stdout + result.stderr
    # docker-compose 1.x echoes the raw ${...} templates of the failing section;
    # drop them so only the actual error text is checked.
    message = re.sub(r"\$\{[^}]*\}", "", output)
    # Our `:?` message ("VAR is required ...") or Compose v2's own wording.
    assert re.search(rf"\b{secret} is required|required variable {secret}\b", message), output
    others = set(REQUIRED_SECRETS) - {secret}
    assert not any(f"{other} is required" in message for other in others), output


def test_compose_refuses_a_copied_env_example(tmp_path):
    """.env.example leaves every production secret empty (no `change-me` that `:?` would accept)."""
    example = (REPO_ROOT / ".env.example").read_text()
    for secret in REQUIRED_SECRETS:
        assert re.search(rf"^{secret}=$", example, re.M), f"{secret} must be empty in .env.example"
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    env.update({"HOME": str(tmp_path), "PYTHONWARNINGS": "ignore"})
    (tmp_path / ".env").write_text(example)
    result = subprocess.run([_docker_compose(), "-f", str(COMPOSE_FILE), "--project-directory", str(tmp_path),
                             "--env-file", str(tmp_path / ".env"), "config", "-q"],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "is required" in result.stdout + result.stderr, result.stderr


def test_compose_config_interpolates_app_environment(tmp_path):
    result = _run_compose(tmp_path, "config")
    assert result.returncode == 0, result.stderr
    services = _load_yaml(result.stdout)["services"]
    for name in APP_SERVICES:
        env = _environment(services[name])
        assert env["DATABASE_URL"] == (
            "postgres://flawmap:dummy-postgres-password@postgres:5432/flawmap"
        )
        assert env["DJANGO_SECRET_KEY"] == "dummy-django-secret-key"
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert env["LABEL_STUDIO_URL"] == "http://labelstudio:8080"
        assert env["FLAWMAP_MEDIA_ROOT"] == "/data/media"
    assert _environment(services["postgres"])["POSTGRES_PASSWORD"] == (
        "dummy-postgres-password"
    )


# --- static checks on the YAML (no docker-compose needed) --------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return _load_yaml(COMPOSE_FILE.read_text())


def test_services_exist_and_share_app_environment(compose):
    assert "version" not in compose, "obsolete top-level `version:` key"
    services = compose["services"]
    assert REQUIRED_SERVICES <= set(services), sorted(services)

    env_keys = {name: set(_environment(services[name])) for name in APP_SERVICES}
    assert env_keys["web"] == env_keys["worker"] == env_keys["beat"], env_keys
    missing = APP_ENV_VARS - env_keys["web"]
    assert not missing, f"app env vars not passed to the containers: {sorted(missing)}"
    if "migrate" in services:
        assert set(_environment(services["migrate"])) == env_keys["web"]


def test_app_services_wiring(compose):
    services = compose["services"]

    images = {(repr(services[n].get("build")), services[n].get("image")) for n in CPU_IMAGE_SERVICES}
    assert len(images) == 1, f"web/worker/beat must run the same image: {images}"
    assert services["web"]["build"]["target"] == "cpu"

    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert services["labelstudio"]["image"] == "heartexlabs/label-studio:1.23.2"
    for name in ("postgres", "redis"):
        assert "healthcheck" in services[name], name

    web_cmd = _command(services["web"])
    assert "gunicorn backend.config.wsgi:application" in web_cmd
    assert "--bind 0.0.0.0:8000" in web_cmd
    assert "celery -A backend.config worker -Q default,io " in _command(services["worker"])
    # training / inference: their own worker, one job at a time, no prefetched second job
    for name in ("worker-gpu", "worker-ml-cpu"):
        assert "worker -Q gpu --concurrency 1 --prefetch-multiplier 1" in _command(services[name]), name
    assert "celery -A backend.config beat" in _command(services["beat"])
    # the webhook ingress queues on Redis (no database); the drain records what it queued
    assert "uvicorn annotator.webhook_ingress:app" in _command(services["webhook-ingress"])
    assert {"redis", "webhook-redis"} <= set(services["webhook-ingress"]["depends_on"])
    assert "manage.py webhook_drain" in _command(services["webhook-drain"])
    # ... and is where the provisioned Label Studio webhooks point unless the deployment says otherwise
    assert _environment(services["web"])["LABEL_STUDIO_WEBHOOK_URL"].endswith(
        ":-http://webhook-ingress:8001/api/labelstudio/webhook/}")

    # Migrations run before the app starts: either a one-shot service the
    # app services wait for, or chained into the web command.
    if "migrate" in services:
        assert "manage.py migrate --noinput" in _command(services["migrate"])
        for name in APP_SERVICES:
            depends = services[name]["depends_on"]
            assert depends["migrate"]["condition"] == "service_completed_successfully"
    else:
        assert "manage.py migrate --noinput" in web_cmd

    # Local blob storage is shared between the web process and the worker.
    def media_volume(service: dict) -> set[str]:
        return {v.split(":")[0] for v in service.get("volumes", []) if ":/data/media" in v}

    assert media_volume(services["web"]) == media_volume(services["worker"]) != set()
    for name in ("worker-ml-cpu", "worker-gpu", "inference-cpu", "inference-gpu"):
        assert media_volume(services[name]) == media_volume(services["web"]), name
    assert set(media_volume(services["web"])) <= set(compose.get("volumes", {}))


# --- the gpu profile, .env reaching every container, the stack's own services ------------------------------


def _example_env_with_secrets(tmp_path: Path) -> Path:
    """.env.example as an operator copies it, the required secrets filled in (at the project directory)."""
    text = (REPO_ROOT / ".env.example").read_text()
    for name, value in REQUIRED_SECRETS.items():
        text = re.sub(rf"^{name}=$", f"{name}={value}", text, flags=re.M)
    dotenv = tmp_path / ".env"
    dotenv.write_text(text)
    return dotenv


def _example_variables() -> set[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.M))


def _config_with_example_env(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    dotenv = _example_env_with_secrets(tmp_path)
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    env.update({"HOME": str(tmp_path), "PYTHONWARNINGS": "ignore"})
    return subprocess.run(
        [_docker_compose(), "-f", str(COMPOSE_FILE), "--project-directory", str(tmp_path), "--env-file",
         str(dotenv), *args, "config"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_compose_config_is_valid_with_the_gpu_profile(tmp_path):
    result = _run_compose(tmp_path, "--profile", "gpu", "config", "-q")
    assert result.returncode == 0, result.stderr
    assert _unexpected_stderr(result.stderr) == []


@pytest.mark.parametrize("profile", [(), ("--profile", "gpu")], ids=["default", "gpu"])
def test_every_env_example_variable_reaches_the_flawmap_containers(tmp_path, profile):
    result = _config_with_example_env(tmp_path, *profile)
    assert result.returncode == 0, result.stderr
    services = _load_yaml(result.stdout)["services"]
    expected = _example_variables()
    assert len(expected) > 60, "the .env.example parser found too few variables"
    for name in ("migrate", "webhook-ingress", *APP_SERVICES):
        missing = expected - set(_environment(services[name]))
        assert not missing, f"{name} does not get {sorted(missing)}"
    # environment: wins over .env for this stack's own services (a copied example points at 127.0.0.1)
    web = _environment(services["web"])
    assert web["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert web["LABEL_STUDIO_URL"] == "http://labelstudio:8080"
    assert web["FLAWMAP_WEBHOOK_STREAM_URL"] == "redis://webhook-redis:6379/0"
    assert web["DATABASE_URL"].endswith("@postgres:5432/flawmap")
    # ... and .env's values reach the containers as written
    assert _environment(services["worker-gpu"])["RETRAIN_MIN_NEW_LABELS"] == "20"


@pytest.mark.parametrize(("cpu_name", "gpu_name"), CPU_GPU_PAIRS.items())
def test_gpu_profile_gives_the_cuda_image_and_the_gpus(compose, cpu_name, gpu_name):
    services = compose["services"]
    gpu, cpu = services[gpu_name], services[cpu_name]
    # Exactly one of them per deployment: both consume the same queue.
    assert gpu["profiles"] == ["gpu"] and cpu["profiles"] == ["cpu"]
    assert _command(gpu) == _command(cpu)
    assert gpu["build"]["target"] == "cuda" and cpu["build"]["target"] == "cpu"
    assert gpu["image"] != services["web"]["image"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in d["capabilities"] and d.get("driver") == "nvidia" for d in devices), devices
    example = (REPO_ROOT / ".env.example").read_text()
    assert re.search(r"^COMPOSE_PROFILES=cpu$", example, re.M), "a copied .env must start the CPU ML worker"


def test_every_flawmap_container_reads_the_env_file(compose):
    for name in CPU_IMAGE_SERVICES + tuple(CPU_GPU_PAIRS.values()):
        assert compose["services"][name].get("env_file") in (".env", [".env"]), name


def test_label_studio_runs_on_its_own_postgres_database(compose):
    services = compose["services"]
    ls = _environment(services["labelstudio"])
    assert ls["DJANGO_DB"] == "default"  # Label Studio 1.23: "default" = PostgreSQL from the POSTGRE_* variables
    assert ls["POSTGRE_HOST"] == "postgres"
    assert ls["POSTGRE_NAME"] != _environment(services["postgres"])["POSTGRES_DB"]
    assert services["labelstudio"]["depends_on"]["labelstudio-db"]["condition"] == "service_completed_successfully"
    assert "createdb" in _command(services["labelstudio-db"])


def test_webhook_stream_has_its_own_capped_redis(compose):
    services = compose["services"]
    assert _environment(services["web"])["FLAWMAP_WEBHOOK_STREAM_URL"] == "redis://webhook-redis:6379/0"
    command = _command(services["webhook-redis"])
    assert "--maxmemory " in command and "--maxmemory-policy noeviction" in command


def test_the_inference_service_serves_its_queue_with_threads(tmp_path):
    result = _run_compose(tmp_path, "config")
    assert result.returncode == 0, result.stderr
    services = _load_yaml(result.stdout)["services"]
    for name in ("inference-cpu", "inference-gpu"):
        assert _command(services[name]).startswith(
            "celery -A backend.config worker -Q inference --pool threads --concurrency 16 "), name
