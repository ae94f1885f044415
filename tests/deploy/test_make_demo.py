"""The README's first command, as a newcomer runs it: `make demo` on the embedded defaults in a var folder that
does not exist yet, twice, then the printed "what next" lines followed as written.

It runs the real path (`make demo` → migrate → `scripts/labelstudio.py up` → `manage.py demo`) at `--quick`
size, without DATABASE_URL or a broker: SQLite in the new folder, in-process tasks, and a Label Studio that
`make demo` starts itself in that folder (on a free port, beside any other) — what a fresh clone gets.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from annotator.client import ls_client
from tests.labelstudio_server import LabelStudioServer

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 900


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    if os.environ.get("FLAWMAP_LABELSTUDIO", "").lower() in {"skip", "0", "off", "false", "no"}:
        pytest.skip("FLAWMAP_LABELSTUDIO=skip: the demo needs Label Studio")
    var = tmp_path_factory.mktemp("newcomer") / "not-yet" / "var"  # neither folder exists
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LABEL_STUDIO_", "FLAWMAP_")) and k != "DJANGO_SETTINGS_MODULE"}
    # Set empty rather than removed: a developer's .env would fill a missing variable back in (the real environment
    # wins over it), and the embedded defaults are what this test is about.
    # No secrets either: `make demo` writes random ones to the new var folder (scripts/dev_secrets.py).
    env.update({name: "" for name in ("DATABASE_URL", "CELERY_BROKER_URL", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY",
                                      "FLAWMAP_MEDIA_ROOT", "FLAWMAP_STORAGE", "FLAWMAP_LABELSTUDIO_DATA_DIR",
                                      "FLAWMAP_LABELSTUDIO_ENV_FILE", "DJANGO_SECRET_KEY",
                                      "LABEL_STUDIO_WEBHOOK_SECRET")})
    env.update({
        "FLAWMAP_VAR_DIR": str(var),
        "FLAWMAP_LABELSTUDIO_PORT": str(_free_port()),
        "FLAWMAP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FLAWMAP_BIND": f"127.0.0.1:{port}",
    })
    yield env
    subprocess.run([sys.executable, "scripts/labelstudio.py", "stop"], cwd=ROOT, env=env, timeout=60,
                   capture_output=True)


def _make_demo(env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(["make", "demo", "DEMO_ARGS=--quick"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=DEMO_TIMEOUT)
    assert result.returncode == 0, f"make demo failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def _round_table(stdout: str) -> list[tuple[int, int, float]]:
    lines = stdout.split("round  labels  production model", 1)[1].splitlines()[1:]
    rows = [re.match(r"\s*(\d+)\s+(\d+)\s+\S+\s+(yes|no)\s+(\d\.\d{3})", line) for line in lines]
    return [(int(m[1]), int(m[2]), float(m[4])) for m in rows if m]


@pytest.fixture(scope="module")
def two_runs(demo_env) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    return _make_demo(demo_env), _make_demo(demo_env)


def test_make_demo_on_a_fresh_var_folder_prints_the_round_table(two_runs, demo_env):
    first, _ = two_runs
    assert (Path(demo_env["FLAWMAP_VAR_DIR"]) / "flawmap.sqlite3").is_file()
    # --quick: 2 rounds of 8 labels after the unified model
    assert [(number, labels) for number, labels, _ in _round_table(first.stdout)] == [(0, 0), (1, 8), (2, 16)]
    assert "reused from an earlier run" not in first.stdout


def test_a_second_run_works_and_says_what_it_reused(two_runs):
    _, second = two_runs
    assert "ingested 0, duplicates 40" in second.stdout
    reused = second.stdout.split("reused from an earlier run:", 1)[1].split("== what next ==")[0]
    for thing in ("generator 'flawmap-demo-artifacts synthetic-v1'", "40 demo images", "user 'demo'",
                  "campaign 'demo: label the new generator'", "campaign 'demo: active learning"):
        assert thing in reused
    assert len(_round_table(second.stdout)) == 3


def test_the_output_has_no_library_notices(two_runs):
    for run in two_runs:
        output = run.stdout + run.stderr
        for notice in ("For binary segmentation", "build_loss", "FileClient", "HardDiskBackend", "The draw is False",
                       "No hostname was supplied", "Warning"):
            assert notice not in output, f"{notice!r} in the demo's output"


def _what_next(stdout: str) -> dict:
    block = stdout.split("== what next ==", 1)[1]
    return {
        "base": re.search(r"`make serve` starts the web app at (\S+)", block)[1],
        "dashboard": re.search(r"Dashboard: (\S+) \(log in as (\S+) / (\S+)\)", block).groups(),
        "docs": re.search(r"API docs: (\S+)", block)[1],
        "curl": re.search(r"curl -H '([^']+)' '([^']+)'", block).groups(),
        "labelstudio": re.search(r"Label Studio: (\S+)/projects/(\d+)/data .*?, (\d+) tasks", block).groups(),
    }


@pytest.fixture(scope="module")
def served(two_runs, demo_env):
    """`make serve` as the printed line says, in the demo's var folder."""
    steps = _what_next(two_runs[1].stdout)
    proc = subprocess.Popen(["make", "serve"], cwd=ROOT, env=demo_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(steps["base"] + "/dashboard/login/", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, "make serve exited"
                assert time.monotonic() < deadline, "make serve did not answer within 120 s"
                time.sleep(0.5)
        yield steps
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_the_printed_dashboard_login_works(served):
    url, username, password = served["dashboard"]
    session = requests.Session()
    login = session.get(url, timeout=10)  # redirected to the login form
    assert login.status_code == 200 and "csrfmiddlewaretoken" in login.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
    page = session.post(login.url, data={"username": username, "password": password,
                                         "csrfmiddlewaretoken": token},
                        headers={"Referer": login.url}, timeout=30)
    assert page.status_code == 200
    assert page.url.rstrip("/") == url.rstrip("/")  # landed on the dashboard, not back on the login form
    assert "flawmap-demo-artifacts" in page.text or "Overview" in page.text


def test_the_printed_api_docs_work_offline(served):
    url, username, password = served["dashboard"]
    session = requests.Session()
    form = session.get(served["base"] + "/api-auth/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
    session.post(form.url, data={"username": username, "password": password, "csrfmiddlewaretoken": token},
                 headers={"Referer": form.url}, timeout=10)
    docs = session.get(served["docs"], timeout=10)
    assert docs.status_code == 200
    # Swagger UI comes from this server (drf-spectacular-sidecar), never from a CDN
    assets = re.findall(r'(?:src|href)="([^"]*swagger-ui[^"]*)"', docs.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert session.get(served["base"] + asset, timeout=10).status_code == 200, asset
    schema = session.get(served["base"] + "/api/schema/", timeout=30)
    assert schema.status_code == 200 and "/api/images/" in schema.text


def test_the_printed_curl_line_works(served):
    header, url = served["curl"]
    name, value = header.split(": ", 1)
    reply = requests.get(url, headers={name: value}, timeout=10)
    assert reply.status_code == 200
    pars = [image["par"] for image in reply.json()["results"] if image["par"] is not None]
    assert pars and pars == sorted(pars, reverse=True)


def test_the_printed_label_studio_project_has_the_tasks(served, demo_env, settings):
    url, project, tasks = served["labelstudio"]
    server = LabelStudioServer.from_env_file(Path(demo_env["FLAWMAP_VAR_DIR"]) / "labelstudio.env")
    assert url == server.url
    settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY = server.url, server.api_key
    ls = ls_client().sdk
    assert ls.projects.get(id=int(project)).title == "Flawmap: demo: label the new generator"
    assert len(list(ls.tasks.list(project=int(project)))) == int(tasks) == 6


def test_every_segmenter_has_benchmark_scores_per_task_and_generator_with_intervals(served, two_runs):
    assert "benchmark global: " in two_runs[0].stdout and "benchmark 'global'" in two_runs[1].stdout
    header, url = served["curl"]
    name, value = header.split(": ", 1)
    models = requests.get(served["base"] + "/api/models/?kind=segmenter", headers={name: value}, timeout=10).json()
    assert models["results"]
    for model in models["results"]:
        scopes = {score["scope"]: score for score in model["benchmarks"]}
        assert "global" in scopes, model["name"] + "@" + model["version"]
        for score in scopes.values():
            assert score["n_images"] >= 1 and len(score["iou_ci"] or []) in (0, 2)
            for group in (*score["per_task"].values(), *score["per_generator"].values()):
                assert {"iou", "iou_ci", "f1", "f1_ci", "n"} <= set(group) and group["n"] >= 1
            assert score["per_task"] and score["per_generator"]


def test_the_routing_table_names_the_production_model_of_each_scope(served, two_runs):
    header, _ = served["curl"]
    name, value = header.split(": ", 1)
    routing = requests.get(served["base"] + "/api/models/routing?kind=segmenter", headers={name: value},
                           timeout=10).json()
    production = requests.get(served["base"] + "/api/models/?kind=segmenter&status=production",
                              headers={name: value}, timeout=10).json()["results"]
    assert routing and routing[0]["scope"] == "unified"
    assert {row["scope"]: row["model"]["id"] for row in routing} == {m["scope"]: m["id"] for m in production}
    assert sum(row["images"] for row in routing) >= 1
