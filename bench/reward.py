"""POST /api/reward through the inference service against a direct Predictor loop, on the same machine.

    make bench-reward                                  # throwaway PostgreSQL + Redis via scripts/with_test_services.py
    .venv/bin/python scripts/with_test_services.py -- .venv/bin/python bench/reward.py --requests 48 --json

* **direct**: this process decodes each request's images and runs the segmenter's `Predictor` and the VLM's
  `VlmPredictor` on them, one request after another: what a fine-tuning loop would do with the models in hand.
* **service**: `--clients` (16) concurrent clients post the same requests (multipart, token auth) to the web app
  under gunicorn, which checks them and waits on the inference worker (`celery worker --pool threads`, the
  batcher of backend/mlmodels/batching.py), as `make inference-worker` runs it.

Both score the same models: the tiny segmenter config trained one iteration and the tiny random-weight VLM tuned
one step, built from configs in a temporary folder (nothing is downloaded). It reports images/s and per-request
p50/p99 latency of each, and the ratio service/direct images/s (target >= 0.7). A busy machine reads low on
both; the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import (  # noqa: E402
    ROOT,
    bench_database_url,
    create_bench_db,
    django_setup,
    drop_bench_db_after_servers,
    log,
    photo_like,
    teardown,
)
from webhook_servers import Proc, free_port, wait_worker_ready  # noqa: E402

TARGET = 0.7


def build_models(work: Path, device: str) -> tuple[Path, Path]:
    """(segmenter checkpoint, tuned VLM folder): tiny configs, trained just enough to be real checkpoints."""
    from ml.segmentation.config import TINY_CONFIG
    from ml.segmentation.train import train as train_segmenter
    from ml.synthetic import generate_dataset
    from ml.vlm.data import SYNARTIFACT_CLASSES
    from ml.vlm.demo_data import generate_vlm_demo
    from ml.vlm.tiny import build_tiny_vlm
    from ml.vlm.train import train as train_vlm

    generate_dataset(work / "seg-data", n=8, size=64, seed=3)
    train_segmenter(config=TINY_CONFIG, data=work / "seg-data", work_dir=work / "seg", max_iters=1, device=device,
                    seed=0)
    generate_vlm_demo(work / "vlm-data", n=8, size=64, seed=1)
    base = build_tiny_vlm(work / "vlm-base", SYNARTIFACT_CLASSES, image_size=64, seed=0)
    train_vlm(data=work / "vlm-data", base=str(base), out=work / "vlm", max_steps=1, batch_size=2, device=device)
    return work / "seg" / "best.pth", work / "vlm"


def build_models_apart(work: Path, device: str) -> tuple[Path, Path]:
    """build_models in a process of its own, so the direct loop runs in a process that has only loaded models,
    as the inference worker has (training in this process first left the direct loop several times slower)."""
    import subprocess

    subprocess.run([sys.executable, __file__, "--build-models", str(work), "--device", device], check=True,
                   stdout=subprocess.DEVNULL)
    return work / "seg" / "best.pth", work / "vlm"


def request_images(args) -> list[list[bytes]]:
    """--requests batches of --images-per-request distinct PNGs."""
    batches = []
    for r in range(args.requests):
        batch = []
        for i in range(args.images_per_request):
            buf = io.BytesIO()
            Image.fromarray(photo_like(r * args.images_per_request + i, args.size)).save(buf, format="PNG")
            batch.append(buf.getvalue())
        batches.append(batch)
    return batches


def summary(latencies: list[float], images: int, seconds: float) -> dict:
    ordered = sorted(latencies)
    return {"images_per_s": round(images / seconds, 2), "requests": len(latencies),
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
            "seconds": round(seconds, 2)}


def joined(batches: list[list[bytes]], max_images: int) -> list[list[bytes]]:
    """Consecutive requests joined into batches of at most `max_images`."""
    groups, current = [], []
    for batch in batches:
        if current and len(current) + len(batch) > max_images:
            groups.append(current)
            current = []
        current = current + batch
    return groups + [current] if current else groups


def direct(args, segmenter_path: Path, vlm_folder: Path, batches: list[list[bytes]]) -> dict:
    from ml.segmentation.predictor import Predictor
    from ml.vlm.model import load_tuned
    from ml.vlm.predictor import VlmPredictor

    segmenter = Predictor(segmenter_path, device=args.device, batch_size=args.predict_batch_size)
    vlm = VlmPredictor(load_tuned(vlm_folder, device=args.device), batch_size=args.predict_batch_size,
                       max_new_tokens=args.max_new_tokens)

    def score(batch: list[bytes]) -> None:
        arrays = [np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for data in batch]
        segmenter.predict(arrays)
        vlm.predict(arrays)

    for batch in batches[:args.warmup]:
        score(batch)
    latencies, start = [], time.perf_counter()
    for batch in batches:
        t = time.perf_counter()
        score(batch)
        latencies.append(time.perf_counter() - t)
    return summary(latencies, sum(map(len, batches)), time.perf_counter() - start)


def direct_loops(args, segmenter_path: Path, vlm_folder: Path, batches: list[list[bytes]]) -> dict:
    """The loop per request, and the same loop over requests joined into one model call's worth of images (what
    the service's batcher does at best): the service should come near the second, and may pass the first."""
    return {"direct": direct(args, segmenter_path, vlm_folder, batches),
            "direct_batched": direct(args, segmenter_path, vlm_folder, joined(batches, args.predict_batch_size))}


def start_servers(args, work: Path, env: dict) -> tuple[list[Proc], int]:
    port, hostname = free_port(), f"flawmap-bench-inference-{os.getpid()}@%h"
    worker = Proc("inference worker", [
        sys.executable, "-m", "celery", "-A", "backend.config", "worker", "-Q", env["FLAWMAP_INFERENCE_QUEUE"],
        "--pool", "threads", "--concurrency", str(args.worker_threads), "--without-mingle", "--without-gossip",
        "--loglevel", "WARNING", "--hostname", hostname], env, work / "worker.log")
    web = Proc("gunicorn", [
        sys.executable, "-m", "gunicorn", "backend.config.wsgi:application", "--workers", str(args.web_workers),
        "--threads", str(args.web_threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        "--timeout", "300"], env, work / "gunicorn.log")
    procs = [worker, web]
    wait_worker_ready(worker, hostname, 120)
    import requests

    deadline = time.monotonic() + 120
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/reward", timeout=30)
            break
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or its workers still starting
            if not web.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer:\n{web.tail()}") from None
            time.sleep(0.3)
    return procs, port


def through_service(args, port: int, token: str, batches: list[list[bytes]]) -> dict:
    import requests

    url, headers = f"http://127.0.0.1:{port}/api/reward", {"Authorization": f"Token {token}"}

    def post(session, batch: list[bytes]) -> float:
        t = time.perf_counter()
        response = session.post(url, headers=headers, timeout=600,
                                files=[("images", (f"{i}.png", data, "image/png")) for i, data in enumerate(batch)])
        if response.status_code != 200:
            raise RuntimeError(f"/api/reward answered {response.status_code}: {response.text[:500]}")
        if len(response.json()["results"]) != len(batch):
            raise RuntimeError("/api/reward answered a different number of results")
        return time.perf_counter() - t

    with requests.Session() as session:  # warm-up: the worker loads both models on its first request
        for batch in batches[:max(1, args.warmup)]:
            post(session, batch)
    todo, lock, latencies, errors = list(range(len(batches))), threading.Lock(), [], []

    def client() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if not todo or errors:
                        return
                    index = todo.pop()
                try:
                    seconds = post(session, batches[index])
                except Exception as exc:  # stop everyone: a failed request makes the figures meaningless
                    errors.append(exc)
                    return
                with lock:
                    latencies.append(seconds)

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return summary(latencies, sum(map(len, batches)), time.perf_counter() - start)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=64, help="measured requests, each path (default 64)")
    parser.add_argument("--images-per-request", type=int, default=4, help="images per request (default 4)")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients of the service (default 16)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured requests first, each path (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="VLM answer length cap (default 16)")
    parser.add_argument("--predict-batch-size", type=int, default=16, help="images per model call (default 16)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--web-threads", type=int, default=8, help="gunicorn threads per worker (default 8)")
    parser.add_argument("--worker-threads", type=int, default=16, help="inference worker threads (default 16)")
    parser.add_argument("--batch-window-ms", type=float, default=5.0, help="FLAWMAP_INFERENCE_BATCH_WINDOW_MS")
    parser.add_argument("--max-batch", type=int, default=64, help="FLAWMAP_INFERENCE_MAX_BATCH (default 64)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--strict", action="store_true", help=f"exit 1 when the ratio is below {TARGET}")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--build-models", type=Path, help=argparse.SUPPRESS)  # build_models_apart's child
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.build_models:
        if args.device == "cpu":
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # mmengine would train on a GPU if one were visible
        sys.path.insert(0, str(ROOT))
        build_models(args.build_models, args.device)
        return 0
    if not os.environ.get("DATABASE_URL") or not os.environ.get("CELERY_BROKER_URL"):
        raise SystemExit("needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis): run through "
                         "scripts/with_test_services.py, as `make bench-reward` does")
    work = Path(tempfile.mkdtemp(prefix="flawmap-bench-reward-"))
    queue = f"bench-inference-{os.getpid()}"
    overrides = django_setup(work, media="media", env={
        "FLAWMAP_INFERENCE_QUEUE": queue, "FLAWMAP_INFERENCE_TIMEOUT_SECONDS": "600",
        "FLAWMAP_INFERENCE_BATCH_WINDOW_MS": str(args.batch_window_ms),
        "FLAWMAP_INFERENCE_MAX_BATCH": str(args.max_batch), "FLAWMAP_ML_DEVICE": args.device,
        "FLAWMAP_PREDICT_BATCH_SIZE": str(args.predict_batch_size),
        "VLM_PREDICT_BATCH_SIZE": str(args.predict_batch_size), "VLM_MAX_NEW_TOKENS": str(args.max_new_tokens),
        "FLAWMAP_MODEL_CACHE_DIR": str(work / "model-cache"), "FLAWMAP_THROTTLE_REWARD": "1000000/min",
        "REWARD_MAX_IMAGES": str(max(64, args.images_per_request))})
    old_name, procs = None, []
    try:
        old_name, _ = create_bench_db(work, "reward")
        from django.contrib.auth.models import Group, User
        from django.db import connection
        from rest_framework.authtoken.models import Token

        from backend.mlmodels.services import model_promote, model_register
        from ml.vlm.package import pack

        t = time.perf_counter()
        segmenter_path, vlm_folder = build_models_apart(work, args.device)
        for kind, path in (("segmenter", segmenter_path), ("vlm", pack(vlm_folder, work / "vlm.tar"))):
            model_promote(model_version=model_register(kind=kind, name=kind, checkpoint_path=path))
        user = User.objects.create_user(username="bench-reward")
        user.groups.add(Group.objects.get(name="viewer"))
        token = Token.objects.create(user=user).key
        batches = request_images(args)
        log(f"models and {len(batches)} requests of {args.images_per_request} images ready in "
            f"{time.perf_counter() - t:.1f} s")
        env = {**os.environ, **overrides, "DATABASE_URL": bench_database_url(connection.settings_dict["NAME"])}
        procs, port = start_servers(args, work, env)
        log("direct Predictor loop ...")
        figures = direct_loops(args, segmenter_path, vlm_folder, batches)
        log(f"service: {args.clients} clients ...")
        figures["service"] = through_service(args, port, token, batches)
    finally:
        for proc in reversed(procs):
            proc.stop()
        teardown(old_name, work, keep=args.keep, drop=drop_bench_db_after_servers)
    ratio = figures["service"]["images_per_s"] / figures["direct"]["images_per_s"]
    ratio_batched = figures["service"]["images_per_s"] / figures["direct_batched"]["images_per_s"]
    report = {**figures, "ratio": round(ratio, 3), "ratio_to_batched": round(ratio_batched, 3), "target": TARGET,
              "device": args.device,
              "clients": args.clients, "images_per_request": args.images_per_request, "size": args.size,
              "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'path':<16}{'images/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}")
        for name in ("direct", "direct_batched", "service"):
            f = figures[name]
            print(f"{name:<16}{f['images_per_s']:>10}{f['p50_ms']:>10}{f['p99_ms']:>10}{f['requests']:>10}")
        print(f"ratio service/direct images/s: {ratio:.2f} (target >= {TARGET}); service/direct_batched: "
              f"{ratio_batched:.2f} (a direct_batched 'request' is a joined model batch); {args.clients} clients, "
              f"{args.images_per_request} images of {args.size}px per request, device {args.device}, "
              f"load average {report['load_average']} on {report['cpus']} CPUs")
    return 1 if args.strict and ratio < TARGET else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
