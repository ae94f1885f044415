"""Every benchmark that needs no GPU, at quick sizes, into bench/results/latest.json and latest.md.

    make bench-all                                  # under scripts/with_test_services.py (PostgreSQL + Redis)
    .venv/bin/python bench/all.py --only webhook,scale
    .venv/bin/python bench/all.py --skip ml         # the database benchmarks only (ml: the model ones)

Each benchmark runs as its own process with --json (as its own command line would), one after the other, so
their figures do not share the CPUs; its figures are then read from its JSON and written with their targets
and a pass/fail verdict (bench/results_table.py). A benchmark that fails or times out gives `missing` rows
with the reason, and the others still run. Quick sizes are smaller than each benchmark's defaults: the
figures say how the code does on this machine today, the dated notes in docs/experiments/ hold the full runs.
Exit status 1 when a figure misses its target or is missing.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from results_table import FAIL, MISSING, Figure, results_json, results_markdown, verdict

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _get(data: dict, *path, default=None):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def ingest(d):
    return [Figure("ingest", "ingest / bare loop", d.get("ratio"), "×", d.get("target", 0.8),
                   note=f"n={d.get('n')}"),
            Figure("ingest", "ingest", d.get("ingest_images_per_s"), "images/s", note=f"n={d.get('n')}")]


def export(d):
    targets = d.get("targets") or {}
    return [Figure("export", "folder export / cp -r", d.get("folder_vs_cp"), "×", targets.get("folder_vs_cp"),
                   note=f"n={d.get('n')}"),
            Figure("export", "archive export / tar -c", d.get("archive_vs_tar"), "×", targets.get("archive_vs_tar"),
                   note=f"n={d.get('n')}")]


def webhook(d):
    lat = d.get("latency_ms") or {}
    note = f"{d.get('posts')} posts, {d.get('concurrency')} clients"
    return [Figure("webhook", "ack latency p99", lat.get("p99"), "ms", d.get("target_p99_ms"), False, note),
            Figure("webhook", "annotations/s end to end", d.get("annotations_per_s"), "annotations/s",
                   d.get("target_annotations_per_s", 200.0), note=note),
            Figure("webhook", "annotations per CPU-second", d.get("annotations_per_cpu_second"), "annotations/CPU-s",
                   note="ingress + drain + worker + PostgreSQL; × free cores = what the machine would do alone"),
            Figure("webhook", "stored exactly once", 1.0 if d.get("exactly_once") else 0.0, "", 1.0, note=note)]


def dashboard(d):
    pages = d.get("pages") or []
    worst = max(pages, key=lambda p: p["median_ms"], default=None)
    return [Figure("dashboard", "slowest page median", worst and worst["median_ms"], "ms", d.get("target_ms"),
                   False, f"{worst['url'] if worst else ''}; {d.get('images')} images")]


def scale(d):
    figures = []
    for row in d.get("rows") or []:
        n = f"{row['images']:,} images"
        for page in ("images_first_page", "images_filtered_page", "images_deep_page_cursor",
                     "images_deep_page_offset", "dashboard_overview", "leaderboard"):
            figures.append(Figure("scale", f"{page.replace('_', ' ')} p50", _get(row, page, "p50_ms"), "ms",
                                  note=f"{n}, {_get(row, page, 'queries')} queries"))
        target = d.get("snapshot_target_s_at_1m") if row["images"] >= 1_000_000 else None
        figures.append(Figure("scale", "dataset snapshot", _get(row, "snapshot", "seconds"), "s", target, False,
                              f"{n}, {_get(row, 'snapshot', 'items')} items"))
        figures.append(Figure("scale", "version diff", _get(row, "diff", "seconds"), "s", note=n))
    return figures


def time_saved(d):
    seeds = d.get("seeds") or 0
    return [Figure("time_saved", "interval covers the true saving", d.get("covered") / seeds if seeds else None,
                   "share of seeds", 0.9, note=f"{seeds} seeds")]


def vlm(d):
    cpu = next((r for r in d.get("rows") or [] if r.get("device") == "cpu"), {})
    return [Figure("vlm", "tiny VLM LoRA training", cpu.get("train_steps_per_s"), "steps/s", note="CPU"),
            Figure("vlm", "tiny VLM inference", cpu.get("inference_images_per_s"), "images/s", note="CPU")]


def segmenter(d):
    speed = d.get("speed") or {}
    return [Figure("segmenter", "tiny config inference", speed.get("cpu_tiny_ms_per_image"), "ms/image",
                   higher_is_better=False, note="CPU, 512²"),
            Figure("segmenter", "paper config inference", speed.get("cpu_paper_ms_per_image"), "ms/image",
                   higher_is_better=False, note="CPU, 512²")]


def rectify(d):
    return [Figure("rectify", f"{m['mode']}: PAR change after fixing", m.get("relative_change"), "relative",
                   higher_is_better=False, note="quick: small training, no target")
            for m in d.get("modes") or []]


def active_learning(d):
    al = d.get("active_learning") or d
    return [Figure("active_learning", "best strategy's labels / random's", al.get("best_ratio"), "×",
                   note="quick: one seed, few iterations, no target")]


def targets_met(bench: str):
    """For a benchmark whose JSON says `pass` (all its own targets met) and no figure this file knows."""
    def extract(d):
        met = d.get("pass")
        return [Figure(bench, "its targets met", None if met is None else float(bool(met)), "", 1.0,
                       note="see its own output for the figures")]
    return extract


# name, group, command line (quick sizes), timeout s, extractor
BENCHMARKS = [
    ("ingest", "db", ["bench/ingest.py", "--n", "1000", "--rounds", "2", "--json"], 900, ingest),
    ("export", "db", ["bench/export.py", "--n", "1000", "--rounds", "2", "--json"], 900, export),
    ("webhook", "db", ["bench/webhook.py", "--json"], 900, webhook),
    ("dashboard", "db", ["bench/dashboard.py", "--runs", "5", "--json"], 900, dashboard),
    ("browse", "db", ["bench/browse.py", "--json"], 900, targets_met("browse")),
    ("scale", "db", ["bench/scale.py", "--sizes", "10000,100000", "--runs", "10", "--json"], 3600, scale),
    ("time_saved", "ml", ["bench/time_saved.py", "--json"], 600, time_saved),
    ("vlm", "ml", ["bench/vlm.py", "--steps", "10", "--images", "16", "--json"], 900, vlm),
    ("segmenter", "ml", ["bench/segmenter.py", "speed", "--no-gpu", "--repeats", "1", "--json", "--out",
                         "/dev/null"], 900, segmenter),
    # 300 iterations: with fewer the tiny segmenter finds no artifact and there is nothing to fix (no figure).
    ("rectify", "ml", ["bench/rectify.py", "--n", "200", "--iters", "300", "--limit", "10", "--json"], 1200, rectify),
    ("active_learning", "ml", ["bench/active_learning.py", "--n", "80", "--test-n", "40", "--rounds", "2",
                               "--iters", "60", "--seeds", "1", "--skip", "few-shot"], 1800, active_learning),
]


def parse_json(stdout: str) -> dict:
    """The benchmark's JSON object: all of stdout, else its last line that is one."""
    text = stdout.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        for line in reversed(text.splitlines()):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    continue
    raise ValueError("no JSON object on its stdout")


def run_one(name: str, argv: list[str], timeout: int, extract, raw: dict) -> tuple[list[Figure], float]:
    """Run one benchmark; its figures (or a `missing` row saying why), its seconds. Its JSON goes into `raw`."""
    t = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - t
        if done.returncode not in (0, 1):  # 1: a target missed (or --strict); 2 and others: it could not run
            raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or ''}")
        raw[name] = parse_json(done.stdout)
        figures = extract(raw[name])
        if not figures:
            raise RuntimeError("its JSON held none of the figures")
        return figures, seconds
    except subprocess.TimeoutExpired:
        reason = f"timed out after {timeout} s"
    except Exception as exc:  # noqa: BLE001 - one broken benchmark must not stop the others
        reason = f"{exc.__class__.__name__}: {exc}"
    return [Figure(name, "benchmark run", None, note=reason[:300])], time.perf_counter() - t


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names (or groups: db, ml)")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names or groups to leave out")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for latest.json / latest.md")
    args = parser.parse_args(argv)
    only = {s for s in args.only.split(",") if s}
    skip = {s for s in args.skip.split(",") if s}
    chosen = [b for b in BENCHMARKS if (not only or only & {b[0], b[1]}) and not skip & {b[0], b[1]}]
    figures, raw, started = [], {}, datetime.datetime.now(datetime.UTC)
    for name, _, bench_argv, timeout, extract in chosen:
        print(f"[bench-all] {name}: {' '.join(bench_argv)}", file=sys.stderr, flush=True)
        got, seconds = run_one(name, bench_argv, timeout, extract, raw)
        figures += got
        print(f"[bench-all] {name}: {len(got)} figure(s) in {seconds:.0f} s: "
              + ", ".join(f"{f.name} {verdict(f)}" for f in got), file=sys.stderr, flush=True)
    meta = {"started": started.isoformat(timespec="seconds"),
            "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
            "command": "bench/all.py " + " ".join(argv), "benchmarks": [b[0] for b in chosen]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(results_json(figures, {**meta, "raw": raw}))
    (args.out / "latest.md").write_text(results_markdown(figures, meta))
    print(results_markdown(figures, meta))
    return 1 if any(verdict(f) in (FAIL, MISSING) for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
