"""Webhook intake benchmark: ack latency of POST /api/labelstudio/webhook/ under concurrent load, and
proof that every annotation is stored exactly once by the real Celery worker.

    python bench/webhook.py [--posts 500] [--concurrency 50] [--json] [--strict]
    make bench-webhook              # same, under scripts/with_test_services.py (throwaway PostgreSQL + Redis)

What runs (all on loopback, nothing reaches Label Studio):

* a throwaway PostgreSQL database `flawmap_bench_webhook_<pid>` on the server DATABASE_URL names,
  created and migrated the way Django's test runner does it (bench/support.py) and dropped at the end,
  also on Ctrl-C or SIGTERM (the database DATABASE_URL names is never touched); blobs, server logs
  and everything else in a temporary folder that is removed at the end;
* seeded with one campaign (ls_project_id=1), --images small PNGs ingested through image_ingest, one
  CampaignTask per image and a LabelStudioUser mapping (Label Studio user 7), so intake needs no
  Label Studio server;
* the web app under gunicorn (--workers x --threads, gthread) and a real Celery worker
  (prefork, --worker-concurrency) on that database and the broker CELERY_BROKER_URL names;
* warm-up posts (distinct annotations, counted in the checks), then --posts ANNOTATION_CREATED
  deliveries, each a distinct annotation (one brush mask + one rectangle, built with
  annotator.converter.labels_to_results) spread over the tasks, from --concurrency clients
  (bench/webhook_clients.py: coroutines on one event loop by default, --client threads for http.client
  threads). Each client opens a new connection per post, as Label Studio does (--keepalive reuses one).
  Closed loop by default (each client posts again as soon as it has its answer); --rate R posts
  on a fixed schedule of R per second instead (open loop);
* ack latency = from sending the request to having the whole response, per post.

Then it waits until the worker has processed every event and checks: one SyncedAnnotation, one
Annotation, one mask and one region per posted annotation id (none missing, none twice), no failed
events. Finally --replay of the payloads are posted again; they must all be skipped, storing nothing.

Reported: p50/p90/p99/max ack latency, posts/s, PASS/FAIL against p99 <= 50 ms, time until all were
processed, the exactly-once result. Exit status: 1 when the exactly-once check fails (or, with
--strict, when p99 misses the target); 2 when the benchmark could not run.

This file is the command line and the run's order; the parts are its sibling modules:
webhook_payloads.py (seed data and bodies), webhook_servers.py (server processes), webhook_clients.py
(the load), webhook_checks.py (processed, exactly once), webhook_report.py (the figures), and
support.py (Django on the throwaway database, shared with the other benchmarks).
"""

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from support import (
    background_cpu_busy,
    bench_database_url,
    create_bench_db,
    django_setup,
    drop_bench_db_after_servers,
    log,
    teardown,
)
from webhook_checks import burst_problems, check_replay, stored_counts, wait_processed
from webhook_clients import CLIENTS, fire_from, get_warmup
from webhook_cpu import IntakeCpu
from webhook_payloads import build_payloads, seed
from webhook_report import TARGET_P99_MS, report
from webhook_servers import (
    Proc,
    check_broker_is_ours,
    free_port,
    process_group,
    shut_down,
    start_drain,
    start_gunicorn,
    start_ingress,
    start_worker,
    wait_http_ready,
    wait_worker_ready,
)

SECRET = "flawmap-bench-webhook-secret-32-characters-or-more"  # shorter ones are refused


def server_settings() -> dict[str, str]:
    """The environment the server processes need beyond support.django_setup's (it sets both here too)."""
    return {
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "LABEL_STUDIO_WEBHOOK_SECRET": SECRET,
        # Never a real Label Studio (var/labelstudio.env may name one): nothing may need it here.
        "LABEL_STUDIO_URL": "http://127.0.0.1:9",
        "LABEL_STUDIO_API_KEY": "bench-unused",
        # This measures intake: the labels must not start a segmenter training (the learning loop's
        # retraining policy would, past RETRAIN_MIN_NEW_LABELS) that then competes for the CPUs.
        "RETRAIN_MIN_NEW_LABELS": str(10**9),
        # The fast ingress queues on this run's own stream of the broker's Redis.
        "FLAWMAP_WEBHOOK_STREAM": f"flawmap:bench-webhook:{os.getpid()}",
        "FLAWMAP_WEBHOOK_STREAM_URL": os.environ.get("CELERY_BROKER_URL", ""),
    }


def start_servers(args, env: dict, work: Path, procs: list[Proc], web_pids: set[int]) -> int:
    """The Celery worker and the front door (ingress + drain, or gunicorn), ready; returns the front door's port.

    Appends them to `procs` (the worker first) and their web pids to `web_pids` as they start, for shut_down."""
    port = free_port()
    hostname = f"flawmap-bench-{os.getpid()}@%h"
    procs.append(start_worker(env, hostname, args, work))
    if args.ingress == "fast":
        procs.append(start_drain(env, args, work))
        procs.append(start_ingress(env, port, args, work))
        front = f"webhook ingress (uvicorn x {args.ingress_workers}) + drain"
    else:
        procs.append(start_gunicorn(env, port, args, work))
        front = f"gunicorn ({args.workers} workers x {args.threads} threads)"
    t = time.perf_counter()
    wait_worker_ready(procs[0], hostname, 90)
    wait_http_ready(procs[-1], port, 90)
    for proc in procs[1:]:
        web_pids |= process_group(proc)
    log(f"{front} on 127.0.0.1:{port} and celery worker "
        f"(prefork x {args.worker_concurrency}) ready in {time.perf_counter() - t:.1f} s")
    return port


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=500, help="measured webhook posts (default 500)")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="warm-up posts before the measured ones, from as many clients as the burst, not "
                             "timed but checked (default 100: the ingress's Redis pool grows to one connection "
                             "per concurrent post once per process, not on every burst)")
    parser.add_argument("--replay", type=int, default=50,
                        help="payloads posted a second time after processing; must store nothing (default 50)")
    parser.add_argument("--images", type=int, default=100, help="images / Label Studio tasks (default 100)")
    parser.add_argument("--size", type=int, nargs=2, default=(64, 48), metavar=("W", "H"),
                        help="image size in pixels (default 64 48)")
    parser.add_argument("--shared-mask", action="store_true",
                        help="every annotation draws the same mask (same mask blob); default: all distinct")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: start posts at this many per second (default: closed loop)")
    parser.add_argument("--client", choices=CLIENTS, default="asyncio",
                        help="asyncio: one coroutine per client on one event loop (default); threads: one "
                             "http.client thread per client (bench/webhook_clients.py)")
    parser.add_argument("--client-procs", type=int, default=1,
                        help="client processes the concurrent clients are spread over (default 1)")
    parser.add_argument("--keepalive", action="store_true",
                        help="each client reuses one connection (default: a new one per post, as Label Studio)")
    parser.add_argument("--ingress", choices=("fast", "django"), default="fast",
                        help="fast: annotator/webhook_ingress.py (uvicorn) queues on a Redis stream and "
                             "`manage.py webhook_drain` records; django: the Django endpoint under gunicorn")
    parser.add_argument("--ingress-workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--background-nice", type=int, default=10,
                        help="nice level of the drain and the Celery worker, which convert in the background "
                             "(default 10; 0 = same priority as the acks)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (default 8)")
    parser.add_argument("--worker-concurrency", type=int, default=2,
                        help="Celery worker processes (default 2)")
    parser.add_argument("--conn-max-age", type=int, default=None,
                        help="DATABASE_CONN_MAX_AGE for the server processes (default: as the environment has "
                             "it, else the project default 0 = a new database connection per request)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for the worker to process everything (default 300)")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temporary folder (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (server logs, blobs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the figures on stdout")
    parser.add_argument("--strict", action="store_true", help=f"also exit 1 when p99 > {TARGET_P99_MS:.0f} ms")
    args = parser.parse_args(argv)
    if min(args.posts, args.concurrency, args.images, args.workers, args.threads, args.worker_concurrency) < 1:
        parser.error("--posts, --concurrency, --images, --workers, --threads, --worker-concurrency must be >= 1")
    if args.warmup < 0 or not 0 <= args.replay <= args.posts + args.warmup:
        parser.error("--warmup must be >= 0 and --replay between 0 and --posts + --warmup")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be > 0")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://", "pgsql://")):
        log("DATABASE_URL must name a PostgreSQL server (run through scripts/with_test_services.py)")
        return 2
    if not os.environ.get("CELERY_BROKER_URL"):
        log("CELERY_BROKER_URL is not set: the benchmark needs a real broker and worker "
            "(run through scripts/with_test_services.py)")
        return 2
    # SIGTERM (e.g. a CI timeout) should still stop the servers, drop the database and remove the files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="flawmap-bench-webhook-", dir=args.dir))
    old_name = None
    procs: list[Proc] = []
    web_pids: set[int] = set()
    try:
        overrides = django_setup(work, media="media", env=server_settings())
        from django.db import connection

        t = time.perf_counter()
        old_name, _ = create_bench_db(work, "webhook")
        db_name = connection.settings_dict["NAME"]
        log(f"created and migrated database {db_name} (throwaway) in {time.perf_counter() - t:.1f} s")

        size = tuple(args.size)
        t = time.perf_counter()
        tasks, label = seed(args.images, size)
        total = args.warmup + args.posts
        bodies = build_payloads(total, tasks, label, size, args.shared_mask)
        image_of = {t["id"]: t["data"]["flawmap_image_id"] for t in tasks}
        expected = {ann_id: image_of[json.loads(body)["task"]["id"]] for ann_id, body in bodies}
        mean_body = statistics.mean(len(b) for _, b in bodies)
        log(f"seeded {args.images} images ({size[0]}x{size[1]}), {total} payloads "
            f"(mean {mean_body / 1024:.1f} KiB) in {time.perf_counter() - t:.1f} s")

        check_broker_is_ours()
        env = {**os.environ, **overrides, "DATABASE_URL": bench_database_url(db_name)}
        if args.conn_max_age is not None:
            env["DATABASE_CONN_MAX_AGE"] = str(args.conn_max_age)
        conn_max_age = env.get("DATABASE_CONN_MAX_AGE") or "60"  # the settings default
        port = start_servers(args, env, work, procs, web_pids)

        get_warmup(port, 4 * args.workers * args.threads, args.concurrency)
        from django.conf import settings

        post_headers = {settings.LABEL_STUDIO_WEBHOOK_HEADER: SECRET, "Content-Type": "application/json",
                        "User-Agent": "flawmap-bench-webhook"}
        warm, measured = bodies[:args.warmup], bodies[args.warmup:]
        if warm:
            w = fire_from(args.client_procs, args.client, port, warm, min(args.concurrency, len(warm)),
                          headers=post_headers, keepalive=args.keepalive)
            if w["errors"]:
                raise RuntimeError(f"warm-up posts failed: {w['errors'][:3]}")
            done, pending = wait_processed(procs, args.timeout)
            if pending:
                raise RuntimeError(f"the worker did not process the warm-up posts in {args.timeout:.0f} s")
            log(f"warm-up: {len(warm)} posts answered and processed")

        background = background_cpu_busy()
        if background is not None and background > 0.10:
            log(f"warning: {100 * background:.0f}% of the CPUs are busy with other work before the burst; "
                "latencies will be higher than on a quiet machine")
        mode = f"open loop at {args.rate:g}/s" if args.rate else "closed loop"
        log(f"posting {len(measured)} webhooks from {args.concurrency} clients ({mode}, "
            f"{'keep-alive' if args.keepalive else 'new connection per post'})...")
        cpu = IntakeCpu(procs, db_name)
        cpu.start()
        run = fire_from(args.client_procs, args.client, port, measured, args.concurrency, headers=post_headers,
                        keepalive=args.keepalive, rate=args.rate)
        done, pending = wait_processed(procs, args.timeout)
        cpu_s = cpu.stop()
        log(f"answered in {run['seconds']:.2f} s; "
            + (f"all processed {done - run['t0']:.2f} s after the first post" if not pending
               else f"{pending} event(s) still pending after {args.timeout:.0f} s"))

        problems = burst_problems(run, expected, args.shared_mask)
        replay_result = None
        if args.replay and not pending:
            replay_result, problem = check_replay(args, port, bodies, post_headers, procs)
            if problem:
                problems.append(problem)

        figures = report(args, run, measured=len(measured), mean_body=mean_body, background=background,
                         conn_max_age=conn_max_age, done=done, pending=pending, counts=stored_counts(),
                         expected=len(expected), replay_result=replay_result, problems=problems, cpu_s=cpu_s)
        if not figures["exactly_once"]:
            return 1
        return 1 if (args.strict and not figures["pass"]) else 0
    except RuntimeError as exc:
        log(f"benchmark could not run: {exc}")
        return 2
    finally:
        shut_down(procs, web_pids)
        teardown(old_name, work, args.keep, drop=drop_bench_db_after_servers)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
