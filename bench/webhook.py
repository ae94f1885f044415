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
"""

import argparse
import http.client
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from PIL import Image

from support import create_bench_db, drop_bench_db, log, teardown
from webhook_clients import CLIENTS, WEBHOOK_PATH, fire_from

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 50.0
SECRET = "flawmap-bench-webhook-secret"
LS_PROJECT_ID = 1
LS_USER_ID = 7
FIRST_TASK_ID = 1001
FIRST_ANNOTATION_ID = 100_001
UPDATED_AT = "2026-01-15T10:00:00Z"
# A Label Studio webhook carries the serialized project; this keeps the body near a real one's size.
LABEL_CONFIG = """<View>
  <Image name="image" value="$image" zoom="true" brightnessControl="true" contrastControl="true"/>
  <BrushLabels name="artifact_mask" toName="image"><Label value="Artifact" background="#ff0000"/></BrushLabels>
  <RectangleLabels name="artifact_box" toName="image">%s</RectangleLabels>
  <TextArea name="caption" toName="image" perRegion="true" editable="true"/>
  <Choices name="no_artifacts" toName="image"><Choice value="No artifacts"/></Choices>
</View>"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png(width: int, height: int, seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Django and the throwaway database (as bench/ingest.py does it).
# --------------------------------------------------------------------------------------------

def django_setup(work: Path) -> dict:
    """Configure this process like the server processes; returns the environment they get."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    overrides = {
        "DJANGO_SETTINGS_MODULE": "backend.config.settings",
        "FLAWMAP_VAR_DIR": str(work / "var"),
        "FLAWMAP_MEDIA_ROOT": str(work / "media"),
        "FLAWMAP_STORAGE": "local",
        "DJANGO_DEBUG": "false",  # DEBUG=True would record every query
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
    os.environ.update(overrides)
    (work / "var").mkdir(parents=True, exist_ok=True)
    (work / "media").mkdir(parents=True, exist_ok=True)
    import django

    django.setup()
    return overrides


def drop_db(old_name: str) -> None:
    """support.drop_bench_db; if a server process killed hard left a session behind, end it and drop again."""
    from django.db import connection, connections

    name = connection.settings_dict["NAME"]
    connections.close_all()
    try:
        drop_bench_db(old_name)
    except Exception:
        # A server process killed hard may leave a session behind for a moment; end those, retry once.
        import psycopg

        s = connection.settings_dict
        with psycopg.connect(dbname=old_name, user=s["USER"] or None, password=s["PASSWORD"] or None,
                             host=s["HOST"] or None, port=s["PORT"] or None, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
            time.sleep(0.5)
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.settings_dict["NAME"] = old_name


def bench_database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


# --------------------------------------------------------------------------------------------
# Seed data and payloads.
# --------------------------------------------------------------------------------------------

def seed(n_images: int, size: tuple[int, int]) -> tuple[list[dict], str]:
    """Campaign, images, tasks and the Label Studio user; returns the task dicts and a class label."""
    from annotator.models import Campaign, CampaignTask, LabelStudioUser
    from backend.core.roles import Role
    from backend.core.users import user_get_or_create_with_role
    from backend.images.services import IngestItem, generator_create, image_ingest, task_resolve
    from backend.taxonomy.selectors import artifact_class_list

    width, height = size
    generator = generator_create(name="bench-webhook", version=str(os.getpid()))
    synthesis_task = task_resolve(slug="text_to_image")
    campaign = Campaign.objects.create(name="bench-webhook", ls_project_id=LS_PROJECT_ID, ls_webhook_id=1)
    user = user_get_or_create_with_role(username="bench-annotator@example.org", role=Role.ANNOTATOR)
    LabelStudioUser.objects.create(ls_user_id=LS_USER_ID, email="bench-annotator@example.org", user=user)
    tasks = []
    for i in range(n_images):
        image = image_ingest(item=IngestItem(name=f"bench_{i:04d}.png", data=_png(width, height, 5000 + i)),
                             generator=generator, task=synthesis_task).image
        ls_task_id = FIRST_TASK_ID + i
        CampaignTask.objects.create(campaign=campaign, image=image, ls_task_id=ls_task_id)
        tasks.append({"id": ls_task_id, "data": {"image": f"http://127.0.0.1/signed/{image.pk}",
                                                 "flawmap_image_id": image.pk}, "project": LS_PROJECT_ID})
    names = sorted(c.name for c in artifact_class_list())
    if not names:
        raise SystemExit("the taxonomy has no artifact classes (migrations did not seed it?)")
    label = "Localized Blur" if "Localized Blur" in names else names[0]
    return tasks, label


def build_payloads(count: int, tasks: list[dict], label: str, size: tuple[int, int],
                   shared_mask: bool) -> list[tuple[int, bytes]]:
    """`count` distinct ANNOTATION_CREATED bodies: (annotation id, JSON bytes), spread over the tasks."""
    from annotator.converter import LSRegion, labels_to_results

    width, height = size
    bw, bh = max(2, width // 4), max(2, height // 4)
    positions = [(x, y) for y in range(height - bh) for x in range(width - bw)]
    if not shared_mask and count > len(positions):
        raise SystemExit(f"{width}x{height} images allow {len(positions)} distinct masks, {count} needed")
    project = {"id": LS_PROJECT_ID, "title": "bench-webhook", "label_config": LABEL_CONFIG % "".join(
        f'<Label value="{n}"/>' for n in [label] * 12), "created_by": {"id": 1, "email": "admin@example.org"}}
    bodies = []
    for k in range(count):
        ann_id = FIRST_ANNOTATION_ID + k
        task = tasks[k % len(tasks)]
        x, y = positions[0 if shared_mask else (k * 7919) % len(positions)]  # scattered, all distinct
        mask = np.zeros((height, width), dtype=bool)
        mask[y:y + bh, x:x + bw] = True
        result = labels_to_results(mask=mask, regions=[LSRegion(x, y, x + bw, y + bh, label, "")],
                                   width=width, height=height)
        body = {
            "action": "ANNOTATION_CREATED",
            "project": project,
            "task": task,
            "annotation": {"id": ann_id, "task": task["id"], "project": LS_PROJECT_ID, "result": result,
                           "completed_by": LS_USER_ID, "lead_time": 12.5, "was_cancelled": False,
                           "ground_truth": False, "created_at": UPDATED_AT, "updated_at": UPDATED_AT},
        }
        bodies.append((ann_id, json.dumps(body).encode()))
    return bodies


# --------------------------------------------------------------------------------------------
# Server processes.
# --------------------------------------------------------------------------------------------

class Proc:
    """A server process in its own process group (so its workers / children end with it)."""

    def __init__(self, name: str, argv: list[str], env: dict, logfile: Path):
        self.name, self.logfile = name, logfile
        self._log = open(logfile, "wb")
        self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # stragglers of the group, if any
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()


def process_group(proc: Proc) -> set[int]:
    """Pids in the process's group (gunicorn's master and workers); empty where there is no /proc."""
    pids = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == proc.popen.pid:
                    pids.add(int(entry))
            except OSError:
                pass
    return pids


def purge_jobs_from(pids: set[int]) -> int:
    """Remove the jobs still queued that these (web) processes published; they name a dropped database.

    Celery stamps every message with its sender, origin "gen<pid>@<host>"; only ours are removed.
    """
    from backend.config.celery import app

    host = socket.gethostname()
    origins = {f"gen{pid}@{host}" for pid in pids}
    removed = 0
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        for queue in ("default", "io", "gpu"):
            for raw in client.lrange(queue, 0, -1):
                try:
                    origin = json.loads(raw)["headers"].get("origin")
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if origin in origins:
                    removed += client.lrem(queue, 1, raw)
    return removed


def start_gunicorn(env: dict, port: int, args, work: Path) -> Proc:
    argv = [sys.executable, "-m", "gunicorn", "backend.config.wsgi:application",
            "--workers", str(args.workers), "--threads", str(args.threads), "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning", "--graceful-timeout", "10"]
    return Proc("gunicorn", argv, env, work / "gunicorn.log")


def start_ingress(env: dict, port: int, args, work: Path) -> Proc:
    """The fast front door (annotator/webhook_ingress.py) under uvicorn with uvloop + httptools."""
    argv = [sys.executable, "-m", "uvicorn", "annotator.webhook_ingress:app", "--host", "127.0.0.1",
            "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--workers", str(args.ingress_workers),
            "--log-level", "warning", "--no-access-log", "--backlog", "4096"]
    return Proc("webhook ingress", argv, env, work / "ingress.log")


def _niced(argv: list[str], args) -> list[str]:
    """Conversion is asynchronous by design: on a small machine it should yield the CPU to the acks."""
    return ["nice", "-n", str(args.background_nice), *argv] if args.background_nice else argv


def start_drain(env: dict, args, work: Path) -> Proc:
    argv = _niced([sys.executable, str(ROOT / "manage.py"), "webhook_drain"], args)
    return Proc("webhook drain", argv, env, work / "drain.log")


def start_worker(env: dict, hostname: str, args, work: Path) -> Proc:
    argv = _niced([sys.executable, "-m", "celery", "-A", "backend.config", "worker", "-Q", "default,io,gpu",
                   "--pool", "prefork", "--concurrency", str(args.worker_concurrency), "--without-mingle",
                   "--without-gossip", "--loglevel", "WARNING", "--hostname", hostname], args)
    return Proc("celery worker", argv, env, work / "worker.log")


def wait_http_ready(proc: Proc, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", WEBHOOK_PATH)
            status = conn.getresponse().status
            conn.close()
            if status == 405:  # the endpoint answers (GET is not allowed): the server is up
                return
            raise RuntimeError(f"GET {WEBHOOK_PATH} answered {status}, expected 405:\n{proc.tail()}")
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer within {timeout:.0f} s:\n{proc.tail()}")


def wait_worker_ready(proc: Proc, hostname_pattern: str, timeout: float) -> None:
    from backend.config.celery import app

    hostname = hostname_pattern.replace("%h", socket.gethostname())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"celery worker exited with {proc.popen.returncode}:\n{proc.tail()}")
        if app.control.ping(destination=[hostname], timeout=1.0):
            return
    raise RuntimeError(f"celery worker did not answer a ping within {timeout:.0f} s:\n{proc.tail()}")


def check_broker_is_ours() -> None:
    """Another worker on the same broker would take our jobs and run them against its own database."""
    from backend.config.celery import app

    replies = app.control.ping(timeout=1.5)
    if replies:
        names = ", ".join(sorted(name for reply in replies for name in reply))
        raise RuntimeError(f"other Celery workers already consume from {app.conf.broker_url}: {names}; "
                           "point CELERY_BROKER_URL at an unused Redis database")
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        waiting = {q: client.llen(q) for q in ("default", "io", "gpu")}
    if any(waiting.values()):
        log(f"warning: the broker already holds queued jobs {waiting}; our worker will take them too")


# --------------------------------------------------------------------------------------------
# The load (bench/webhook_clients.py posts the bodies): warm-up GETs and the machine's background load.
# --------------------------------------------------------------------------------------------

def get_warmup(port: int, count: int, concurrency: int) -> None:
    """Cheap GETs (405) so every gunicorn worker has imported the URL conf and views."""
    lock = threading.Lock()
    left = [count]

    def client() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", WEBHOOK_PATH)
            conn.getresponse().read()
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def background_cpu_busy(seconds: float = 1.0) -> float | None:
    """Share (0..1) of all CPUs busy over `seconds` while our servers are idle: other load on the machine."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values) - idle, sum(values)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):  # not Linux
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_processed(procs: list[Proc], timeout: float) -> tuple[float, int]:
    """Poll until no delivery is queued on the ingress's stream and no event is pending; returns
    (time.perf_counter() when done, deliveries left)."""
    from django.conf import settings

    from annotator.models import WebhookEvent

    queue = None
    if settings.FLAWMAP_WEBHOOK_STREAM_URL:
        import redis

        queue = redis.Redis.from_url(settings.FLAWMAP_WEBHOOK_STREAM_URL)
    deadline = time.monotonic() + timeout
    while True:
        pending = WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING).count()
        if queue is not None:
            pending += queue.xlen(settings.FLAWMAP_WEBHOOK_STREAM)
        now = time.perf_counter()
        if pending == 0:
            return now, 0
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        if time.monotonic() > deadline:
            return now, pending
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# Checks.
# --------------------------------------------------------------------------------------------

def stored_counts() -> dict:
    from annotator.models import SyncedAnnotation, WebhookEvent
    from backend.annotations.models import Annotation, MaskLabel, RegionLabel
    from backend.core.models import Blob

    return {
        "events": WebhookEvent.objects.count(),
        "synced": SyncedAnnotation.objects.count(),
        "annotations": Annotation.objects.count(),
        "masks": MaskLabel.objects.count(),
        "regions": RegionLabel.objects.count(),
        "blobs": Blob.objects.count(),
    }


def check_exactly_once(expected: dict[int, int], shared_mask: bool) -> list[str]:
    """expected: Label Studio annotation id -> Flawmap image id. Returns the problems found."""
    from annotator.models import SyncedAnnotation, WebhookEvent
    from backend.annotations.models import Annotation, MaskLabel, RegionLabel

    problems = []
    by_status = Counter(WebhookEvent.objects.values_list("status", flat=True))
    if by_status.get(WebhookEvent.Status.FAILED):
        errors = Counter(WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED)
                         .values_list("error", flat=True))
        problems.append(f"{by_status[WebhookEvent.Status.FAILED]} failed event(s): {dict(errors.most_common(3))}")
    if by_status.get(WebhookEvent.Status.PENDING):
        problems.append(f"{by_status[WebhookEvent.Status.PENDING]} event(s) still pending")

    synced = list(SyncedAnnotation.objects.values_list("ls_annotation_id", "annotation_id", "annotation__image_id"))
    per_ls_id = Counter(ls_id for ls_id, _, _ in synced)
    twice = sorted(ls_id for ls_id, c in per_ls_id.items() if c > 1)
    missing = sorted(set(expected) - set(per_ls_id))
    extra = sorted(set(per_ls_id) - set(expected))
    if twice:
        problems.append(f"{len(twice)} annotation id(s) synced more than once, e.g. {twice[:5]}")
    if missing:
        problems.append(f"{len(missing)} annotation id(s) never stored, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} unexpected synced annotation id(s), e.g. {extra[:5]}")
    wrong_image = [ls_id for ls_id, _, image_id in synced if ls_id in expected and expected[ls_id] != image_id]
    if wrong_image:
        problems.append(f"{len(wrong_image)} annotation(s) stored on the wrong image, e.g. {wrong_image[:5]}")
    linked = Counter(ann_id for _, ann_id, _ in synced)
    if any(c > 1 for c in linked.values()):
        problems.append("several synced annotations point at the same Flawmap annotation")

    n = len(expected)
    annotations = Annotation.objects.count()
    if annotations != n:
        problems.append(f"{annotations} Flawmap annotations stored, expected {n}")
    orphans = Annotation.objects.exclude(pk__in=list(linked)).count()
    if orphans:
        problems.append(f"{orphans} Flawmap annotation(s) not linked to a synced annotation")
    per_annotation_masks = Counter(MaskLabel.objects.values_list("annotation_id", flat=True))
    per_annotation_regions = Counter(RegionLabel.objects.values_list("annotation_id", flat=True))
    if sum(per_annotation_masks.values()) != n or any(per_annotation_masks[a] != 1 for a in linked):
        problems.append(f"{sum(per_annotation_masks.values())} masks stored, expected one on each of {n}")
    if sum(per_annotation_regions.values()) != n or any(per_annotation_regions[a] != 1 for a in linked):
        problems.append(f"{sum(per_annotation_regions.values())} regions stored, expected one on each of {n}")
    if not shared_mask:
        distinct_blobs = MaskLabel.objects.values("blob_id").distinct().count()
        if distinct_blobs != n:
            problems.append(f"{distinct_blobs} distinct mask blobs for {n} distinct masks")
    return problems


# --------------------------------------------------------------------------------------------

def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(np.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


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
        overrides = django_setup(work)
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
        port = _free_port()
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
        run = fire_from(args.client_procs, args.client, port, measured, args.concurrency, headers=post_headers,
                        keepalive=args.keepalive, rate=args.rate)
        answered_at = run["t0"] + run["seconds"]
        done, pending = wait_processed(procs, args.timeout)
        all_processed_s = done - run["t0"] if not pending else None
        log(f"answered in {run['seconds']:.2f} s; "
            + (f"all processed {all_processed_s:.2f} s after the first post" if not pending
               else f"{pending} event(s) still pending after {args.timeout:.0f} s"))

        ok_latency = sorted(1000 * lat for lat, st in zip(run["latency"], run["status"]) if st == 200)
        event_ids = [e for e in run["event_id"] if e is not None]
        problems = []
        if run["errors"]:
            problems.append(f"{len(run['errors'])} post(s) not acknowledged: {run['errors'][:3]}")
        problems += check_exactly_once(expected, args.shared_mask)
        if len(set(event_ids)) != len(event_ids):
            problems.append("the same event id was answered to two posts")

        replay_result = None
        if args.replay and not pending:
            before = stored_counts()
            step = max(1, total // args.replay)
            again = [bodies[k] for k in range(0, total, step)][:args.replay]
            r = fire_from(args.client_procs, args.client, port, again, min(args.concurrency, len(again)),
                          headers=post_headers, keepalive=args.keepalive)
            _, replay_pending = wait_processed(procs, args.timeout)
            after = stored_counts()
            from annotator.models import WebhookEvent

            answered = [e for e in r["event_id"] if e]
            key = "delivery_id__in" if args.ingress == "fast" else "pk__in"
            skipped = WebhookEvent.objects.filter(**{key: answered},
                                                  status=WebhookEvent.Status.SKIPPED).count()
            grown = {k: after[k] - before[k] for k in before if k != "events" and after[k] != before[k]}
            replay_ok = (not r["errors"] and not replay_pending and skipped == len(again) and not grown
                         and after["events"] - before["events"] == len(again))
            replay_result = {"posts": len(again), "skipped": skipped, "stored_new": grown, "ok": replay_ok}
            if not replay_ok:
                problems.append(f"replay of {len(again)} payloads: {skipped} skipped, new rows {grown}, "
                                f"errors {r['errors'][:3]}, pending {replay_pending}")
            log(f"replay: {len(again)} posts, {skipped} skipped, new rows: {grown or 'none'}")

        counts = stored_counts()
        p50, p90, p99 = (percentile(ok_latency, q) for q in (50, 90, 99))
        latency_max = ok_latency[-1] if ok_latency else float("nan")
        passed = bool(ok_latency) and p99 <= TARGET_P99_MS
        exactly_once = not problems
        figures = {
            "posts": len(measured),
            "concurrency": args.concurrency,
            "mode": "open" if args.rate else "closed",
            "rate": args.rate,
            "keepalive": args.keepalive,
            "client": args.client,
            "client_procs": args.client_procs,
            "ingress": args.ingress,
            "gunicorn_workers": args.workers,
            "gunicorn_threads": args.threads,
            "celery_concurrency": args.worker_concurrency,
            "background_nice": args.background_nice,
            "drain_quiet_ms": settings.FLAWMAP_WEBHOOK_DRAIN_QUIET_MS if args.ingress == "fast" else None,
            "drain_max_defer_ms": settings.FLAWMAP_WEBHOOK_DRAIN_MAX_DEFER_MS if args.ingress == "fast" else None,
            "conn_max_age": int(conn_max_age),
            "cpus": os.cpu_count(),
            "background_cpu_busy_pct": round(100 * background, 1) if background is not None else None,
            "mean_body_bytes": round(mean_body),
            "acked": len(ok_latency),
            "latency_ms": {"p50": round(p50, 2), "p90": round(p90, 2), "p99": round(p99, 2),
                           "max": round(latency_max, 2), "mean": round(statistics.mean(ok_latency), 2)
                           if ok_latency else None},
            "posts_per_s": round(len(measured) / run["seconds"], 1),
            "target_p99_ms": TARGET_P99_MS,
            "pass": passed,
            "answered_seconds": round(run["seconds"], 3),
            "all_processed_seconds": round(all_processed_s, 3) if all_processed_s is not None else None,
            "processed_after_last_ack_seconds": round(done - answered_at, 3) if not pending else None,
            "max_send_lag_ms": round(1000 * max(run["send_lag"]), 1) if args.rate else None,
            "stored": counts,
            "expected_annotations": len(expected),
            "replay": replay_result,
            "exactly_once": exactly_once,
            "problems": problems,
        }
        if args.json:
            print(json.dumps(figures))
        else:
            lat = figures["latency_ms"]
            rows = [
                ("posts (measured)", f"{len(measured)} (+{args.warmup} warm-up, +{args.replay} replayed)"),
                ("concurrent clients", f"{args.concurrency} {args.client} clients in {args.client_procs} process(es), {mode}, "
                                       f"{'keep-alive' if args.keepalive else 'new connection per post'}"),
                ("server", (f"webhook ingress: uvicorn x {args.ingress_workers} -> Redis stream -> drain "
                            f"(records after {settings.FLAWMAP_WEBHOOK_DRAIN_QUIET_MS} ms quiet, at most "
                            f"{settings.FLAWMAP_WEBHOOK_DRAIN_MAX_DEFER_MS} ms late)"
                            if args.ingress == "fast" else
                            f"gunicorn {args.workers} workers x {args.threads} threads")
                 + f", celery prefork x {args.worker_concurrency}, CONN_MAX_AGE={conn_max_age}"
                 + (f", drain + worker at nice {args.background_nice}" if args.background_nice else "")),
                ("machine", f"{os.cpu_count()} CPUs" + (f", {100 * background:.0f}% busy with other work "
                                                         "just before the burst" if background is not None else "")),
                ("ack latency ms", f"p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}  "
                                   f"max {lat['max']:.1f}"),
                ("target p99 <= 50 ms", "PASS" if passed else "FAIL"),
                ("throughput", f"{figures['posts_per_s']:.1f} posts/s ({run['seconds']:.2f} s)"),
                ("all processed", f"{all_processed_s:.2f} s after the first post "
                                  f"({done - answered_at:.2f} s after the last ack)" if not pending
                 else f"NO: {pending} pending after {args.timeout:.0f} s"),
                ("stored exactly once", ("PASS" if exactly_once else "FAIL") +
                 f" ({counts['synced']} synced / {counts['annotations']} annotations / {counts['masks']} masks"
                 f" for {len(expected)} annotation ids"
                 + (f"; replay {replay_result['skipped']}/{replay_result['posts']} skipped, nothing new"
                    if replay_result and replay_result["ok"] else "") + ")"),
            ]
            if args.rate:
                rows.insert(5, ("max send lag", f"{figures['max_send_lag_ms']:.1f} ms behind schedule"))
            width = max(len(k) for k, _ in rows)
            print(f"webhook benchmark (POST {WEBHOOK_PATH}, mean body {mean_body / 1024:.1f} KiB)")
            for key, value in rows:
                print(f"  {key:<{width}}  {value}")
            for problem in problems:
                print(f"  problem: {problem}")
        if not exactly_once:
            return 1
        return 1 if (args.strict and not passed) else 0
    except RuntimeError as exc:
        log(f"benchmark could not run: {exc}")
        return 2
    finally:
        for proc in procs[1:]:
            web_pids |= process_group(proc)  # gunicorn may have replaced a worker
        for proc in reversed(procs):
            try:
                proc.stop()
            except Exception as exc:  # report, but still drop the database
                log(f"could not stop {proc.name}: {exc}")
        if web_pids:
            try:
                removed = purge_jobs_from(web_pids)
                if removed:
                    log(f"removed {removed} job(s) of this run that were still queued on the broker")
            except Exception as exc:
                log(f"could not remove this run's queued jobs from the broker: {exc}")
        if os.environ.get("FLAWMAP_WEBHOOK_STREAM", "").startswith("flawmap:bench-webhook:"):
            try:
                import redis

                redis.Redis.from_url(os.environ["FLAWMAP_WEBHOOK_STREAM_URL"]).delete(os.environ["FLAWMAP_WEBHOOK_STREAM"])
            except Exception as exc:
                log(f"could not delete this run's webhook stream: {exc}")
        teardown(old_name, work, args.keep, drop=drop_db)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
