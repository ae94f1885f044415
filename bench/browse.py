"""Data browser benchmark: the gallery page, a cached thumbnail and making one, on 10k images and 20k annotations.

    python bench/browse.py [--images 10000] [--annotations 20000] [--runs 30] [--json] [--strict]
    make bench-browse   # the same under scripts/with_test_services.py (throwaway PostgreSQL unless DATABASE_URL)

Seeding: bench/dashboard.py's seed (bulk_create: generators x tasks, images with PAR, a pre-label per image, human
passes with masks, revisions, drafts, campaigns, jobs, a dataset version), plus the browser's stored per-image
figures (backend/quality ImageLabelCheck: disagreement, differing pixels, uncertainty, representative pass),
bulk-created too; then ANALYZE and gc.freeze() as a served process does. One real 1024x1024 image with a mask and
three boxes is ingested through the services, for the thumbnail figures.

Measured in this process through Django's test Client (no network, no browser), --runs timed GETs after a warm-up:
- the gallery at 100 a page, unfiltered and newest first, sorted by disagreement, by uncertainty, and filtered
  (generator + PAR range + labelled + sort=disagreement), and a late page: median and p95 server time, SQL queries;
- a cached thumbnail (already made: read from the blob storage and sent), median;
- making a thumbnail of the 1024x1024 PNG (decode, shrink, tint the mask, draw the boxes, encode JPEG): median of
  thumbnail_render alone, in ms.
Each figure also has its median CPU time of this process (time.process_time: Python, template, image work; not
PostgreSQL's), which a shared, loaded machine inflates far less than wall time.
Targets (wall time): gallery <= 150 ms median, cached thumbnail <= 10 ms, making one <= 30 ms. --strict: exit 1 on
a miss.
"""

import argparse
import gc
import importlib.util
import io
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from support import ROOT, create_bench_db, django_setup, log, photo_like, teardown

GALLERY_MS, CACHED_MS, MAKE_MS = 150.0, 10.0, 30.0
BATCH = 2000


def _dashboard_bench():
    """bench/dashboard.py by path: its module name would shadow the `dashboard` app."""
    spec = importlib.util.spec_from_file_location("bench_dashboard", ROOT / "bench" / "dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_label_checks() -> int:
    """A stored label check per image with a pass, as the receivers would leave it: the representative pass, and
    for human-labelled images a disagreement with the model's pass and the model's uncertainty."""
    from backend.annotations.models import Annotation
    from backend.quality.models import ImageLabelCheck

    rng = np.random.default_rng(24)
    human, model = {}, {}
    for pk, image_id, user_id in (Annotation.objects.filter(is_current=True, status__in=["submitted", "reviewed"])
                                  .values_list("pk", "image_id", "user_id").order_by("pk")):
        (human if user_id else model)[image_id] = pk
    rows = []
    for image_id in model.keys() | human.keys():
        both = image_id in human and image_id in model
        rows.append(ImageLabelCheck(
            image_id=image_id, representative_id=human.get(image_id) or model.get(image_id),
            human_id=human.get(image_id), model_id=model.get(image_id),
            disagreement=float(rng.beta(0.7, 2.0)) if both else None,
            differing_pixels=int(rng.integers(0, 512 * 512 // 4)) if both else None,
            uncertainty=float(rng.uniform(0.0, 1.0))))
    ImageLabelCheck.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def real_image(size: int = 1024) -> tuple[bytes, bytes, list]:
    """A photo-like PNG, its canonical mask PNG (a blob and a stripe) and three boxes with class codes."""
    picture = io.BytesIO()
    Image.fromarray(photo_like(7, size)).save(picture, format="PNG")
    artifact = np.zeros((size, size), dtype=bool)
    yy, xx = np.mgrid[:size, :size]
    artifact |= (yy - size * 0.3) ** 2 + (xx - size * 0.6) ** 2 < (size * 0.12) ** 2
    artifact[int(size * 0.7):int(size * 0.74), :] = True
    boxes = [(size * 0.45, size * 0.15, size * 0.75, size * 0.45), (0, size * 0.68, size, size * 0.76),
             (size * 0.1, size * 0.1, size * 0.2, size * 0.2)]
    return picture.getvalue(), artifact, boxes


def measure_get(client, url: str, runs: int, **headers) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()
    with CaptureQueriesContext(connection) as ctx:  # warm-up, and the query count
        response = client.get(url, **headers)
    queries = len(ctx.captured_queries)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        client.get(url, **headers)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    times.sort()
    return {"url": url, "median_ms": round(statistics.median(times), 2),
            "cpu_median_ms": round(statistics.median(cpu), 2),
            "p95_ms": round(times[min(len(times) - 1, int(np.ceil(0.95 * len(times))) - 1)], 2), "queries": queries}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--annotations", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--profile", metavar="URL", help="one more GET of this page under cProfile; print the top")
    args = parser.parse_args(argv)
    if args.annotations < args.images:
        parser.error("--annotations must be at least --images (every image gets a model pre-label)")

    work = Path(tempfile.mkdtemp(prefix="flawmap-bench-browse-"))
    # Thumbnails and the one real image are written to media; no thumbnail job is queued (nothing would run it).
    django_setup(work, media="media", env={"FLAWMAP_THUMBNAIL_JOBS": "false"})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    old_name, vendor = create_bench_db(work, "browse")
    try:
        from django.test import Client
        from django.urls import reverse

        from backend.annotations.masks import mask_array_to_canonical
        from backend.annotations.services import RegionInput, annotation_create
        from backend.images.models import Generator, SynthesisTask
        from backend.images.services import IngestItem, image_ingest
        from backend.taxonomy.selectors import artifact_class_list
        from dashboard.browse.thumbnails import thumbnail_render

        t0 = time.perf_counter()
        seeded = _dashboard_bench().seed(args.images, args.annotations)
        checks = seed_label_checks()
        log(f"seeded {seeded['images']} images, {seeded['annotations']} annotations and {checks} label checks in "
            f"{time.perf_counter() - t0:.1f} s")

        picture, artifact, boxes = real_image()
        generator = Generator.objects.order_by("id").first()
        image = image_ingest(item=IngestItem(name="bench.png", data=picture), generator=generator,
                             task=SynthesisTask.objects.get(slug="text_to_image")).image
        classes = list(artifact_class_list()[:3])
        canonical = mask_array_to_canonical(artifact)
        annotation = annotation_create(image=image, user=seeded["admin"], mask=canonical, regions=[
            RegionInput(*box, artifact_class=cls) for box, cls in zip(boxes, classes)])

        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        gc.collect()
        gc.freeze()
        client = Client()
        client.force_login(seeded["admin"])

        gallery = reverse("browse:gallery")
        gen = Generator.objects.order_by("id").values_list("id", flat=True)[1]
        urls = [f"{gallery}?size=100", f"{gallery}?size=100&sort=disagreement",
                f"{gallery}?size=100&sort=uncertainty",
                f"{gallery}?size=100&generator={gen}&par_min=0.01&par_max=0.3&labelled=yes&sort=disagreement",
                f"{gallery}?size=100&sort=-par&page=40"]
        pages = [measure_get(client, url, args.runs) for url in urls]
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(client.get, args.profile)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        thumb = f"{reverse('browse:thumbnail', args=[image.pk])}?pass={annotation.pk}"
        client.get(thumb)  # made here; the measured GETs read it
        cached = measure_get(client, thumb, args.runs)
        etag = client.get(thumb)["ETag"]
        not_modified = client.get(thumb, HTTP_IF_NONE_MATCH=etag).status_code

        code = {c.pk: c.code for c in classes}
        drawn = [(box, code[cls.pk]) for box, cls in zip(boxes, classes)]
        make, make_cpu = [], []
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            thumbnail_render(image_bytes=picture, mask_png=canonical.png, boxes=drawn)
            make.append((time.perf_counter() - t0) * 1000)
            make_cpu.append((time.process_time() - c0) * 1000)
        make_ms, make_cpu_ms = round(statistics.median(make), 2), round(statistics.median(make_cpu), 2)

        ok_pages = all(p["median_ms"] <= GALLERY_MS for p in pages)
        constant = len({p["queries"] for p in pages}) == 1
        result = {"images": seeded["images"], "annotations": seeded["annotations"], "database": vendor,
                  "runs": args.runs, "load_avg_1m": round(os.getloadavg()[0], 2), "gallery": pages,
                  "gallery_queries_constant": constant, "cached_thumbnail": cached, "not_modified_status": not_modified,
                  "make_thumbnail_1024_median_ms": make_ms, "make_thumbnail_1024_cpu_median_ms": make_cpu_ms,
                  "pass": ok_pages and constant and cached["median_ms"] <= CACHED_MS and make_ms <= MAKE_MS}
        if args.json:
            print(json.dumps(result))
        else:
            print(f"browser: {seeded['images']} images, {seeded['annotations']} annotations, {vendor}, "
                  f"{args.runs} runs each after a warm-up; load average {result['load_avg_1m']}")
            print(f"  {'gallery page (100 a page)':84s} {'median ms':>10s} {'p95 ms':>8s} {'CPU ms':>7s} "
                  f"{'queries':>8s}")
            for p in pages:
                print(f"  {p['url']:84s} {p['median_ms']:10.1f} {p['p95_ms']:8.1f} {p['cpu_median_ms']:7.1f} "
                      f"{p['queries']:8d}")
            print(f"  gallery target <= {GALLERY_MS:.0f} ms median: {'PASS' if ok_pages else 'FAIL'}; "
                  f"same queries on every page: {constant}")
            print(f"  cached thumbnail: median {cached['median_ms']} ms (CPU {cached['cpu_median_ms']} ms), "
                  f"p95 {cached['p95_ms']} ms, "
                  f"{cached['queries']} queries (target <= {CACHED_MS:.0f} ms); If-None-Match → {not_modified}")
            print(f"  making a 1024x1024 thumbnail: median {make_ms} ms (CPU {make_cpu_ms} ms; "
                  f"target <= {MAKE_MS:.0f} ms)")
        return 1 if args.strict and not result["pass"] else 0
    finally:
        teardown(old_name, work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
