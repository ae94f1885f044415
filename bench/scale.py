"""Scale curves: how request times, snapshots and diffs grow from 10k to 100k (and 1M) images with annotations.

    python bench/scale.py [--sizes 10000,100000] [--huge] [--runs 15] [--json]
    make bench-scale        # the same under scripts/with_test_services.py (throwaway PostgreSQL)

One throwaway PostgreSQL database `flawmap_bench_scale_<pid>` (DATABASE_URL's server; dropped at the end, also
on Ctrl-C / SIGTERM) grows through the sizes: rows are written with COPY (bench/scale_seed.py: every image a
tiny blob row and a model pass, every second one a human pass with a mask and a box; no file is written), then ANALYZE.
At each size, measured in this process through Django's test Client (no network), --runs timed GETs after a
warm-up, p50/p99 in ms and the SQL queries of one GET:

* GET /api/images/ first page (page numbers: it counts every matching row), a filtered page (labelled, one
  generator), a deep page by number (page N/2/50: OFFSET) and the same depth by keyset (`cursor`);
* the dashboard's overview page and the generator leaderboard (GET /api/generators/leaderboard);
* a dataset snapshot (dataset_version_build of a dataset of every image, human pass else model pass: N items):
  seconds and items;
* a version diff (datasets.selectors.version_diff of this size's version against the previous size's): seconds.

--huge adds 1,000,000 images (minutes of seeding; run it on a quiet machine). Targets: list pages flat in N
(the keyset page and the first page's rows; a count and an OFFSET grow with N), snapshot <= 60 s at 1M.
"""

import argparse
import base64
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from support import create_bench_db, django_setup, log, teardown

SNAPSHOT_TARGET_S_AT_1M = 60.0


def timed_get(client, url: str, runs: int) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    queries = len(captured.captured_queries)  # now: the next request's start clears the log this reads
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        client.get(url)
        times.append(1000 * (time.perf_counter() - t))
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return {"p50_ms": round(statistics.median(times), 1), "p99_ms": round(p99, 1), "queries": queries}


def deep_cursor(n: int) -> str:
    """The `cursor` DRF's CursorPagination would hand out for the image half-way down the default ordering
    (-created_at: bench/scale_seed.py gives image i the time t0 + i s), as a client reaches by following `next`."""
    from backend.images.models import GeneratedImage

    middle = GeneratedImage.objects.order_by("-created_at", "-id").values_list("created_at", flat=True)[n // 2]
    return base64.b64encode(urlencode({"p": str(middle)}).encode()).decode()


def measure_size(client, base: dict, n: int, runs: int, previous, profile: bool = False) -> tuple[dict, object]:
    from django.urls import reverse

    from datasets.selectors import version_diff
    from datasets.services import dataset_create, dataset_version_build, dataset_version_start

    generator = base["generators"][1].pk
    pages = {
        "images_first_page": "/api/images/?page_size=50",
        "images_filtered_page": f"/api/images/?page_size=50&labelled=true&generator={generator}",
        "images_deep_page_offset": f"/api/images/?page_size=50&page={max(1, n // 100)}",
        "images_deep_page_cursor": "/api/images/?page_size=50&" + urlencode({"cursor": deep_cursor(n)}),
        "dashboard_overview": reverse("dashboard:overview"),
        "leaderboard": "/api/generators/leaderboard",
    }
    row = {"images": n, **{name: timed_get(client, url, runs) for name, url in pages.items()}}
    # Every image is an item: the human pass where there is one, else the model's (so N items at N images).
    dataset = base.get("dataset") or dataset_create(name="scale", description="every image", label_status="any",
                                                    label_policy="allow_model")
    base["dataset"] = dataset
    start = dataset_version_start(dataset=dataset, note=f"{n} images")
    t = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        version = profiler.runcall(dataset_version_build, version=start)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    else:
        version = dataset_version_build(version=start)
    row["snapshot"] = {"seconds": round(time.perf_counter() - t, 2), "items": version.counts["items"]}
    t = time.perf_counter()
    diff = version_diff(a=previous or version, b=version)
    row["diff"] = {"seconds": round(time.perf_counter() - t, 2), "added": diff["counts"]["added"]}
    return row, version


def print_table(rows: list[dict]) -> None:
    names = [k for k in rows[0] if isinstance(rows[0][k], dict) and "p50_ms" in rows[0][k]]
    print("scale curves (ms: p50 / p99, queries per request)")
    print(f"  {'':28s}" + "".join(f"{r['images']:>24,d}" for r in rows))
    for name in names:
        print(f"  {name:28s}" + "".join(
            f"{r[name]['p50_ms']:>10.1f} /{r[name]['p99_ms']:>7.1f} ({r[name]['queries']:>2d})" for r in rows))
    print(f"  {'snapshot s (items)':28s}" + "".join(
        f"{r['snapshot']['seconds']:>14.2f} ({r['snapshot']['items']:>7d})" for r in rows))
    print(f"  {'version diff s':28s}" + "".join(f"{r['diff']['seconds']:>24.2f}" for r in rows))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="image counts, ascending (default 10000,100000)")
    parser.add_argument("--huge", action="store_true", help="add 1,000,000 images (long; a quiet machine)")
    parser.add_argument("--runs", type=int, default=15, help="timed GETs per page (default 15)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the figures")
    parser.add_argument("--profile-snapshot", action="store_true", help="cProfile the last snapshot (stderr)")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()} | ({1_000_000} if args.huge else set()))
    if not sizes or sizes[0] < 200 or args.runs < 1:
        parser.error("sizes must be >= 200 and --runs >= 1")
    import os

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        log("DATABASE_URL must name a PostgreSQL server (COPY); run through scripts/with_test_services.py")
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="flawmap-bench-scale-"))
    old_name = None
    try:
        django_setup(work)
        old_name, _ = create_bench_db(work, "scale")
        from django.test import Client
        from scale_seed import seed_base, seed_images

        base = seed_base()
        client = Client()
        client.force_login(base["admin"])
        rows, seeded, previous = [], 0, None
        for n in sizes:
            t = time.perf_counter()
            seed_images(base, seeded, n)
            seeded = n
            log(f"{n:,} images seeded with COPY in {time.perf_counter() - t:.1f} s; measuring...")
            row, previous = measure_size(client, base, n, args.runs, previous,
                                         profile=args.profile_snapshot and n == sizes[-1])
            rows.append(row)
        result = {"sizes": sizes, "rows": rows, "snapshot_target_s_at_1m": SNAPSHOT_TARGET_S_AT_1M,
                  "load_avg_1m": round(os.getloadavg()[0], 2)}
        if args.json:
            print(json.dumps(result))
        else:
            print_table(rows)
        return 0
    finally:
        teardown(old_name, work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
