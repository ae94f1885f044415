"""bench/results_table.py: `make bench-all`'s verdicts and table from given figures (no benchmark runs here)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("bench_results_table", ROOT / "bench" / "results_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("value,target,higher,expected", [
    (250.0, 200.0, True, "pass"), (200.0, 200.0, True, "pass"), (199.9, 200.0, True, "fail"),
    (18.6, 50.0, False, "pass"), (50.0, 50.0, False, "pass"), (50.1, 50.0, False, "fail"),
    (3.0, None, True, "info"), (None, 1.0, True, "missing"), (float("nan"), 1.0, True, "missing"),
])
def test_verdict_against_the_target(table, value, target, higher, expected):
    figure = table.Figure("b", "f", value, "u", target, higher)
    assert table.verdict(figure) == expected


def test_json_and_markdown_carry_each_figure_with_its_verdict(table):
    figures = [table.Figure("webhook", "annotations/s end to end", 240.0, "annotations/s", 200.0),
               table.Figure("webhook", "ack latency p99", 61.2, "ms", 50.0, False, "500 posts"),
               table.Figure("scale", "version diff", 0.42, "s"),
               table.Figure("export", "benchmark run", None, note="exit 2: no | database")]
    meta = {"finished": "2026-12-03T06:00:00+00:00", "machine": "2 CPUs"}
    data = json.loads(table.results_json(figures, meta))
    assert [f["verdict"] for f in data["figures"]] == ["pass", "fail", "info", "missing"]
    assert data["counts"] == {"pass": 1, "fail": 1, "info": 1, "missing": 1} and data["machine"] == "2 CPUs"
    rows = [line for line in table.results_markdown(figures, meta).splitlines() if line.startswith("| ")][2:]
    assert rows[0] == "| webhook | annotations/s end to end | 240 | annotations/s | ≥ 200 | pass |  |"
    assert rows[1] == "| webhook | ack latency p99 | 61.2 | ms | ≤ 50 | FAIL | 500 posts |"
    assert rows[2] == "| scale | version diff | 0.42 | s | — | info |  |"
    assert rows[3] == "| export | benchmark run | — |  | — | MISSING | exit 2: no \\| database |"
