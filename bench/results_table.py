"""`make bench-all`'s results: each figure with its target and verdict, as JSON and as a Markdown table.

Pure functions (no Django, no benchmark run), so the verdicts are tested on given figures (tests/bench/).
"""

import json
import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    bench: str  # the benchmark that printed it, e.g. "webhook"
    name: str  # what it is, e.g. "annotations/s end to end"
    value: float | None  # None: the benchmark did not give it (see `note`)
    unit: str = ""
    target: float | None = None  # None: a figure reported without a target
    higher_is_better: bool = True
    note: str = ""  # the sizes it was measured at, or why it is missing


PASS, FAIL, INFO, MISSING = "pass", "fail", "info", "missing"


def verdict(figure: Figure) -> str:
    """pass / fail against the target (inclusive: meeting it is a pass), info without a target, missing when
    the benchmark gave no (finite) value."""
    if figure.value is None or (isinstance(figure.value, float) and not math.isfinite(figure.value)):
        return MISSING
    if figure.target is None:
        return INFO
    met = figure.value >= figure.target if figure.higher_is_better else figure.value <= figure.target
    return PASS if met else FAIL


def results_json(figures: list[Figure], meta: dict) -> str:
    rows = [{**asdict(f), "verdict": verdict(f)} for f in figures]
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in (PASS, FAIL, INFO, MISSING)}
    return json.dumps({**meta, "counts": counts, "figures": rows}, indent=2) + "\n"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if float(value).is_integer() and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"


def _target(figure: Figure) -> str:
    if figure.target is None:
        return "—"
    return f"{'≥' if figure.higher_is_better else '≤'} {_number(figure.target)}"


def results_markdown(figures: list[Figure], meta: dict) -> str:
    """The table README's benchmark section points at: one row per figure, the verdict in capitals when the
    figure misses its target or is missing, so a failure stands out in a plain-text diff."""
    lines = [f"# Benchmark results ({meta.get('finished', '')})", ""]
    for key in ("machine", "command", "note"):
        if meta.get(key):
            lines.append(f"- {key}: {meta[key]}")
    lines += ["", "| benchmark | figure | value | unit | target | verdict | note |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for figure in figures:
        v = verdict(figure)
        shown = v.upper() if v in (FAIL, MISSING) else v
        note = figure.note.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {figure.bench} | {figure.name} | {_number(figure.value)} | {figure.unit} | "
                     f"{_target(figure)} | {shown} | {note} |")
    return "\n".join(lines) + "\n"
