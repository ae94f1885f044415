"""bench/webhook.py and its sibling modules: the CLI, support.django_setup's environment, the figures it reports."""

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def webhook():
    """bench/webhook.py as a module; its siblings import as top-level modules, as when it runs as a script."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_webhook", BENCH / "webhook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_defaults_are_the_acceptance_run(webhook):
    args = webhook.parse_args([])
    assert (args.posts, args.concurrency, args.warmup, args.replay) == (500, 50, 100, 50)
    assert (args.ingress, args.client, args.keepalive, args.rate) == ("fast", "asyncio", False, None)


@pytest.mark.parametrize("argv", [["--posts", "0"], ["--replay", "601"], ["--rate", "0"], ["--warmup", "-1"]])
def test_the_cli_refuses_impossible_runs(webhook, argv):
    with pytest.raises(SystemExit):
        webhook.parse_args(argv)


def test_percentile_is_nearest_rank(webhook):
    percentile = importlib.import_module("webhook_checks").percentile
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) != percentile([], 50)  # nan


@pytest.fixture
def quiet_django_setup(webhook, monkeypatch):
    """support.django_setup without django.setup(); the variables it sets are restored afterwards."""
    import django

    monkeypatch.setattr(django, "setup", lambda: None)
    for key in ("DJANGO_SETTINGS_MODULE", "FLAWMAP_VAR_DIR", "FLAWMAP_MEDIA_ROOT", "FLAWMAP_STORAGE", "DJANGO_DEBUG",
                *webhook.server_settings()):
        monkeypatch.setenv(key, "before")
    return importlib.import_module("support").django_setup


def test_django_setup_points_everything_into_the_work_folder(quiet_django_setup, tmp_path):
    overrides = quiet_django_setup(tmp_path)
    assert overrides == {"DJANGO_SETTINGS_MODULE": "backend.config.settings",
                         "FLAWMAP_VAR_DIR": str(tmp_path / "var"),
                         "FLAWMAP_MEDIA_ROOT": str(tmp_path / "media-unused"),
                         "FLAWMAP_STORAGE": "local", "DJANGO_DEBUG": "false"}
    assert all(os.environ[key] == value for key, value in overrides.items())
    assert (tmp_path / "var").is_dir()


def test_django_setup_gives_the_webhook_servers_their_environment(webhook, quiet_django_setup, tmp_path):
    overrides = quiet_django_setup(tmp_path, media="media", env=webhook.server_settings())
    assert overrides["FLAWMAP_MEDIA_ROOT"] == str(tmp_path / "media") and (tmp_path / "media").is_dir()
    assert overrides["LABEL_STUDIO_WEBHOOK_SECRET"] == webhook.SECRET
    assert overrides["FLAWMAP_WEBHOOK_STREAM"] == f"flawmap:bench-webhook:{os.getpid()}"
    assert overrides["DJANGO_SETTINGS_MODULE"] == "backend.config.settings"
    assert all(os.environ[key] == value for key, value in overrides.items())


def _burst(latencies_ms: list[float], statuses: list[int]) -> dict:
    n = len(latencies_ms)
    return {"latency": [ms / 1000 for ms in latencies_ms], "status": statuses, "event_id": list(range(n)),
            "errors": [], "send_lag": [0.0] * n, "t0": 100.0, "seconds": 0.5}


def test_report_prints_the_figures_as_json(webhook, capsys):
    args = webhook.parse_args(["--posts", "4", "--json", "--conn-max-age", "0"])
    run = _burst([10.0, 20.0, 30.0, 70.0], [200, 200, 200, 500])  # the failed post is not an ack
    counts = {"events": 4, "synced": 4, "annotations": 4, "masks": 4, "regions": 4, "blobs": 8}
    figures = webhook.report(args, run, measured=4, mean_body=2048.0, background=0.05, conn_max_age="0",
                             done=101.5, pending=0, counts=counts, expected=4, replay_result=None, problems=[])
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(figures))
    assert figures["acked"] == 3 and figures["latency_ms"]["p99"] == 30.0 and figures["pass"] is True
    assert figures["posts_per_s"] == 8.0 and figures["all_processed_seconds"] == 1.5
    assert figures["processed_after_last_ack_seconds"] == 1.0 and figures["exactly_once"] is True


def test_report_prints_a_table_that_names_the_problems(webhook, capsys):
    args = webhook.parse_args(["--posts", "2"])
    run = _burst([60.0, 80.0], [200, 200])
    counts = {"events": 2, "synced": 1, "annotations": 1, "masks": 1, "regions": 1, "blobs": 2}
    figures = webhook.report(args, run, measured=2, mean_body=1024.0, background=None, conn_max_age="60",
                             done=130.0, pending=1, counts=counts, expected=2, replay_result=None,
                             problems=["1 annotation id(s) never stored, e.g. [100002]"])
    out = capsys.readouterr().out
    assert figures["pass"] is False and figures["exactly_once"] is False
    assert "target p99 <= 50 ms  FAIL" in out and "stored exactly once  FAIL" in out
    assert "NO: 1 pending" in out and "problem: 1 annotation id(s) never stored" in out
