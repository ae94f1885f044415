"""Dashboard page benchmark: server time and SQL queries of every page with 10k images and 20k annotations.

    python bench/dashboard.py [--images 10000] [--annotations 20000] [--runs 20] [--json] [--strict]
    make bench-dashboard   # the same under scripts/with_test_services.py (throwaway PostgreSQL
                           # unless DATABASE_URL is set)

Seeding (bulk_create, ~15 s; then ANALYZE, and a garbage collection + gc.freeze() as in backend/config/wsgi.py, so
neither lands in a timed request): generators x the seeded synthesis tasks, images with a PAR (human-labelled
ones and model-only ones), one model pre-label per image, human passes (submitted/reviewed with lead times over
twelve weeks, some revised, some after a pre-label), drafts and rejected passes up to --annotations; masks on the
human passes; model versions with per-task test metrics and a promotion history (model_promote itself);
campaigns with tasks, active-learning rounds, jobs, and one dataset version built by the real snapshot code.
Blob rows exist for every file but no file is written: no page reads one.

Measured per page, in this process through Django's test Client (no network, no browser): --runs timed GETs
after one warm-up, median and p95 of the wall time in ms, and the SQL queries of one GET (CaptureQueriesContext).
Acceptance: every page under 300 ms. Exit status 1 with --strict when one is not.

Database: as bench/ingest.py — a dedicated `flawmap_bench_dashboard_<pid>` on DATABASE_URL's server (or a
temporary SQLite file without DATABASE_URL), dropped at the end, also on Ctrl-C / SIGTERM.
"""

import argparse
import gc
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from support import create_bench_db, django_setup, log, teardown

TARGET_MS = 300.0
GENERATORS = 8
ANNOTATORS = 12
JOBS = 2000
ROUNDS = 40
BATCH = 2000


def seed(n_images: int, n_annotations: int) -> dict:
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from annotator.models import Campaign, CampaignTask
    from backend.annotations.models import Annotation, MaskLabel
    from backend.core.models import Blob
    from backend.images.models import GeneratedImage, Generator, SynthesisTask
    from backend.jobs.models import Job
    from backend.mlmodels.models import ModelVersion
    from backend.mlmodels.services import model_promote
    from datasets.services import dataset_create, dataset_version_build, dataset_version_start
    from learning.services.rounds import learning_round_record

    rng = np.random.default_rng(9)
    now = timezone.now()
    admin = User.objects.create_user("bench-admin", password="x")
    admin.groups.add(Group.objects.get(name="admin"))
    annotators = User.objects.bulk_create([User(username=f"annotator-{i}") for i in range(ANNOTATORS)])
    generators = Generator.objects.bulk_create([
        Generator(name=f"gen-{i}", version="1", family="diffusion") for i in range(GENERATORS)])
    tasks = list(SynthesisTask.objects.all())

    Blob.objects.bulk_create([
        Blob(sha256=f"{i:064x}", key=f"blobs/bench/{i}.png", size=1000, content_type="image/png")
        for i in range(n_images + 1)
    ], batch_size=BATCH)
    mask_blob = Blob.objects.get(sha256=f"{n_images:064x}")  # one shared mask file: nothing reads masks here

    # About 40 % human-labelled, every image pre-labelled by the model; the rest of the annotation budget
    # goes to revisions, drafts and rejections.
    n_human = min(int(n_images * 0.4), n_annotations - n_images)
    human_par = np.clip(rng.gamma(0.6, 0.08, n_images), 0, 1) * (rng.random(n_images) > 0.15)
    model_par = np.clip(rng.gamma(0.6, 0.06, n_images), 0, 1)
    images = GeneratedImage.objects.bulk_create([
        GeneratedImage(
            blob_id=f"{i:064x}", width=512, height=512, format="PNG", generator=generators[i % GENERATORS],
            task=tasks[(i // GENERATORS) % len(tasks)], par=float(human_par[i] if i < n_human else model_par[i]),
            par_source="human" if i < n_human else "model", is_labelled=i < n_human,
        ) for i in range(n_images)
    ], batch_size=BATCH)

    models = []
    for v in range(1, 7):
        checkpoint = Blob.objects.create(sha256=f"{n_images + v:064x}", key=f"blobs/bench/m{v}", size=1,
                                         content_type="application/octet-stream")
        task_scores = {t.slug: {"artifact_IoU": round(float(rng.uniform(0.05, 0.5)), 4), "images": 40} for t in tasks}
        models.append(ModelVersion.objects.create(
            kind="segmenter", name="pal4vst", version=f"v{v}", checkpoint=checkpoint,
            metrics={"test": {"split": "test", "mIoU": 0.5, "artifact_IoU": 0.1 + 0.05 * v, "images": 520,
                              "tasks": task_scores}}))
    for model in models[:4] + [models[2], models[5]]:  # with a rollback to v3
        model_promote(model_version=model)
    production = models[5]

    Annotation.objects.bulk_create([
        Annotation(image=im, model_version=production, status="submitted", score=0.9) for im in images
    ], batch_size=BATCH)
    # Pre-labels older than the human passes of the first half of the labelled images: those are "assisted".
    Annotation.objects.filter(model_version=production, image_id__lt=images[n_human // 2].pk).update(
        created_at=now - timedelta(days=120))

    def human(im, i, **fields):
        submitted = now - timedelta(minutes=int(rng.integers(0, 12 * 7 * 24 * 60)))
        return Annotation(image=im, user=annotators[i % ANNOTATORS], lead_time=float(rng.lognormal(4.0, 0.6)),
                          started_at=submitted - timedelta(minutes=2), submitted_at=submitted, **fields)

    passes = Annotation.objects.bulk_create([
        human(im, i, status="reviewed" if i % 5 == 0 else "submitted") for i, im in enumerate(images[:n_human])
    ], batch_size=BATCH)
    MaskLabel.objects.bulk_create([
        MaskLabel(annotation=a, blob=mask_blob, width=512, height=512,
                  artifact_pixels=int(human_par[i] * 512 * 512), par=float(human_par[i]))
        for i, a in enumerate(passes)
    ], batch_size=BATCH)
    rest = n_annotations - n_images - n_human
    extra = []
    for j in range(rest):  # a third revisions by the same annotator, the rest drafts and rejections
        if j % 3 == 0:
            continue
        status = "draft" if j % 3 == 1 else "rejected"
        extra.append(human(images[n_human + j % (n_images - n_human)], j, status=status))
    revisions = [human(images[i], i, status="submitted", previous=passes[i])
                 for i in range(0, n_human, max(1, n_human // max(1, rest - len(extra))))][: rest - len(extra)]
    Annotation.objects.filter(pk__in=[r.previous_id for r in revisions]).update(is_current=False)
    Annotation.objects.bulk_create(extra + revisions, batch_size=BATCH)

    campaigns = [Campaign.objects.create(name=f"campaign-{g.name}", generator=g) for g in generators[:3]]
    CampaignTask.objects.bulk_create([
        CampaignTask(campaign=campaigns[i % 3], image=images[i], ls_task_id=i + 1)
        for i in range(0, n_images, 3)
    ], batch_size=BATCH)
    for r in range(ROUNDS):
        learning_round_record(campaign=campaigns[r % 3], strategy=("uncertainty", "margin", "diversity")[r % 3],
                              k=50, candidates=max(n_images - 50 * r, 50), picked=50, pushed=50,
                              model_version=production)
    Job.objects.bulk_create([
        Job(kind=("prelabel", "train_segmenter", "dataset_version", "export", "labelstudio_push")[i % 5],
            status=Job.Status.values[i % len(Job.Status.values)] if i % 11 else "succeeded")
        for i in range(JOBS)
    ], batch_size=BATCH)

    t0 = time.perf_counter()
    dataset = dataset_create(name="unified", description="Every human-labelled image.")
    version = dataset_version_build(version=dataset_version_start(dataset=dataset, author=admin, note="bench"))
    log(f"dataset version of {version.counts['items']} items built in {time.perf_counter() - t0:.1f} s")
    return {"admin": admin, "dataset_version": version,
            "annotations": Annotation.objects.count(), "images": GeneratedImage.objects.count()}


def analyze() -> None:
    """Give the planner statistics for the freshly bulk-loaded tables, as autovacuum would do a little later
    (while it has not, plans are built on guesses, and the timings change when it does)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()  # the log keeps at most 9000 queries: a full one would count nothing new
    with CaptureQueriesContext(connection) as ctx:  # warm-up, and the query count
        response = client.get(url)
    queries = len(ctx.captured_queries)  # now: the next request's start clears the log this reads
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(np.ceil(0.95 * len(times))) - 1)]
    return {"url": url, "median_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1),
            "max_ms": round(times[-1], 1), "queries": queries,
            "pass": statistics.median(times) < TARGET_MS and p95 < TARGET_MS}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--annotations", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--no-gc-freeze", action="store_true", help="do not gc.freeze() the startup heap")
    parser.add_argument("--profile", metavar="URL", help="one more GET of this page under cProfile; print the top")
    args = parser.parse_args(argv)
    if args.annotations < args.images:
        parser.error("--annotations must be at least --images (every image gets a model pre-label)")

    work = Path(tempfile.mkdtemp(prefix="flawmap-bench-dashboard-"))
    django_setup(work)
    # SIGTERM ends like Ctrl-C, through the finally below, so the throwaway database is dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    old_name, vendor = create_bench_db(work, "dashboard")
    try:
        from django.test import Client
        from django.urls import reverse

        from dashboard.views import PAGES

        t0 = time.perf_counter()
        seeded = seed(args.images, args.annotations)
        log(f"seeded {seeded['images']} images and {seeded['annotations']} annotations in "
            f"{time.perf_counter() - t0:.1f} s")
        analyze()
        # Collect the seeding's garbage, then freeze what is left as backend/config/wsgi.py does in a served
        # process, so that full collections scan what requests allocate, as they do there. (--no-gc-freeze:
        # without; the labelling-time page then pays ~180 ms full collections every few requests.)
        gc.collect()
        if not args.no_gc_freeze:
            gc.freeze()
        client = Client()
        client.force_login(seeded["admin"])
        urls = [reverse(f"dashboard:{name}") for name, _ in PAGES]
        urls.append(reverse("dashboard:datasheet", args=[seeded["dataset_version"].pk]))
        rows = [measure(client, url, args.runs) for url in urls]
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(client.get, args.profile)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        result = {"images": seeded["images"], "annotations": seeded["annotations"], "database": vendor,
                  "runs": args.runs, "target_ms": TARGET_MS, "load_avg_1m": round(os.getloadavg()[0], 2),
                  "pages": rows, "pass": all(r["pass"] for r in rows)}
        if args.json:
            print(json.dumps(result))
        else:
            print(f"dashboard pages: {seeded['images']} images, {seeded['annotations']} annotations, {vendor}, "
                  f"{args.runs} runs each after a warm-up; load average {result['load_avg_1m']}")
            print(f"  {'page':42s} {'median ms':>10s} {'p95 ms':>8s} {'queries':>8s}  < {TARGET_MS:.0f} ms")
            for r in rows:
                print(f"  {r['url']:42s} {r['median_ms']:10.1f} {r['p95_ms']:8.1f} {r['queries']:8d}  "
                      f"{'PASS' if r['pass'] else 'FAIL'}")
        return 1 if args.strict and not result["pass"] else 0
    finally:
        teardown(old_name, work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
