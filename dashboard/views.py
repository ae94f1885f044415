"""Dashboard pages: server-rendered, behind the login, read through dashboard/selectors.py.

Charts are SVG made in Python (dashboard/charts.py); there is no JavaScript and nothing is fetched
from elsewhere, so a page is one request and a fixed number of SQL queries.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from markdown_it import MarkdownIt

from backend.core.roles import user_role
from backend.mlmodels.selectors import promotion_decision_list, routing_table
from dashboard import selectors
from dashboard.charts import Bar, bar_chart, heatmap, histogram
from datasets.datasheet import PAR_LABELS, datasheet_markdown

# (url name, nav title). The browser tests and the benchmark open every page listed here.
PAGES = [
    ("overview", "Overview"),
    ("par", "PAR per task"),
    ("heatmap", "Average PAR"),
    ("time", "Labelling time"),
    ("models", "Models"),
    ("learning", "Active learning"),
    ("jobs", "Jobs"),
    ("datasets", "Datasets"),
]

# Raw HTML in a datasheet (a dataset description, a version note) is shown as text, never interpreted.
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def dashboard_page(view):
    """Login first (the dashboard's own login page); then, as for the API, any Flawmap role may read."""

    @wraps(view)
    @login_required(login_url="dashboard:login")
    def wrapped(request, *args, **kwargs):
        if user_role(request.user) is None:
            raise PermissionDenied("This account has no Flawmap role; ask an admin for viewer access.")
        return view(request, *args, **kwargs)

    return wrapped


def _page(request, template: str, page: str, **context):
    return render(request, f"dashboard/{template}", {"pages": PAGES, "page": page, **context})


def _source(request) -> str:
    source = request.GET.get("source", "human")
    return source if source in selectors.PAR_SOURCES else "human"


@dashboard_page
def overview(request):
    tasks = selectors.images_per_task()
    generators = selectors.images_per_generator()
    return _page(
        request, "overview.html", "overview", counts=selectors.overview_counts(),
        tasks_chart=bar_chart("images-per-task", [
            Bar(t["slug"], t["n_images"], f"{t['n_images']} ({t['n_labelled']} labelled)",
                {"task": t["slug"], "labelled": t["n_labelled"]})
            for t in tasks
        ], title="Images per synthesis task"),
        generators_chart=bar_chart("images-per-generator", [
            Bar(g["label"], g["n_images"], f"{g['n_images']} ({g['n_labelled']} labelled)",
                {"generator": g["label"], "labelled": g["n_labelled"]})
            for g in generators
        ], title="Images per generator"),
    )


@dashboard_page
def par(request):
    source = _source(request)
    tasks = selectors.par_histograms(source=source)
    charts = [
        histogram(f"par-{t['slug']}", PAR_LABELS, t["counts"], title=f"{t['slug']}: PAR of {t['total']} images",
                  data={"task": t["slug"]})
        for t in tasks
    ]
    return _page(request, "par.html", "par", source=source, sources=selectors.PAR_SOURCES, tasks=zip(tasks, charts),
                 n_tasks=len(tasks))


@dashboard_page
def par_heatmap(request):
    source = _source(request)
    grid = selectors.average_par_grid(source=source)
    chart = heatmap("average-par", grid["rows"], grid["columns"], grid["cells"], value_label="mean PAR",
                    percent=True, title="Average PAR per generator and synthesis task")
    return _page(request, "heatmap.html", "heatmap", source=source, sources=selectors.PAR_SOURCES, chart=chart,
                 grid=grid)


def _time_bars(rows: list[dict], key: str) -> list[Bar]:
    return [
        Bar(str(r[key]), r["median_s"], f"{r['median_s']:.0f} s median, n={r['count']}",
            {"group": r[key], "n": r["count"], "median": r["median_s"], "p90": r["p90_s"],
             "hours": round(r["total_hours"], 6)})
        for r in rows
    ]


@dashboard_page
def labelling_time(request):
    stats = selectors.labelling_time()
    charts = {group: bar_chart(f"time-by-{group}", _time_bars(rows, group), title=f"Median seconds per pass by {group}")
              for group, rows in stats["groups"].items()}
    split = [("assisted", stats["assisted"]), ("unassisted", stats["unassisted"])]
    assisted_chart = bar_chart("time-assisted", [
        Bar(name, s["median_s"], f"{s['median_s']:.0f} s median, n={s['count']}",
            {"group": name, "n": s["count"], "median": s["median_s"], "hours": round(s["total_hours"], 6)})
        for name, s in split if s["count"]
    ], title="Median seconds per pass, with and without a model pre-label")
    trial = stats["randomised"]
    # One table: overall first, then each generator and each task (labels say which).
    trial["rows"] = [("overall", trial["overall"])] + [
        (f"{key}: {row[key]}", row) for key, rows in (("generator", trial["by_generator"]), ("task", trial["by_task"]))
        for row in rows]
    return _page(request, "labelling_time.html", "time", stats=stats, charts=charts, assisted_chart=assisted_chart)


@dashboard_page
def models(request):
    versions = selectors.model_versions()
    with_tasks = [v for v in versions if v["tasks"]]
    columns = sorted({task for v in with_tasks for task in v["tasks"]})
    cells = {
        (v["label"], task): (scores.get("artifact_IoU"), scores.get("images") or 0)
        for v in with_tasks for task, scores in v["tasks"].items() if isinstance(scores, dict)
    }
    chart = heatmap("model-task-iou", [v["label"] for v in with_tasks], columns, cells, value_label="artifact IoU",
                    title="Test artifact IoU per model version and synthesis task") if with_tasks else None
    return _page(request, "models.html", "models", versions=versions, chart=chart,
                 promotions=selectors.promotion_history(),
                 # the promotion gate's verdicts and who serves what (dashboard/_promotions.html)
                 decisions=promotion_decision_list(limit=30), routing=routing_table())


@dashboard_page
def learning(request):
    rounds = selectors.learning_rounds()
    chart = bar_chart("rounds-picked", [
        Bar(f"{r['campaign__name']} #{r['number']}", r["picked"], f"{r['picked']} picked by {r['strategy']}",
            {"campaign": r["campaign__name"], "round": r["number"], "strategy": r["strategy"]})
        for r in reversed(rounds)
    ], title="Images picked per active-learning round")
    return _page(request, "learning.html", "learning", rounds=rounds, chart=chart)


@dashboard_page
def jobs(request):
    counts = selectors.job_status_counts()
    chart = bar_chart("jobs-by-status", [
        Bar(status, n, data={"status": status}) for status, n in counts["totals"].items()
    ], title="Jobs per status")
    return _page(request, "jobs.html", "jobs", counts=counts, chart=chart, recent=selectors.recent_jobs(),
                 statuses=list(counts["totals"]), recent_limit=selectors.RECENT_JOBS)


@dashboard_page
def datasets(request):
    versions = selectors.dataset_versions()
    chart = bar_chart("dataset-version-items", [
        Bar(f"{v['dataset__name']} v{v['number']}", v["items"], data={"version": v["pk"]}) for v in reversed(versions)
    ], title="Items per dataset version")
    return _page(request, "datasets.html", "datasets", versions=versions, chart=chart)


@dashboard_page
def datasheet(request, version_id: int):
    version = selectors.dataset_version_get(version_id=version_id)
    if version is None:
        raise Http404("no such dataset version")
    return _page(request, "datasheet.html", "datasets", version=version,
                 datasheet_html=_markdown.render(datasheet_markdown(version)))
