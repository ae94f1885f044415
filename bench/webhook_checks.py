"""bench/webhook.py's checks after the posts: all processed, each stored exactly once; latency percentiles."""

import time
from collections import Counter

import numpy as np
from support import log
from webhook_clients import fire_from
from webhook_servers import Proc


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


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(np.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def burst_problems(run: dict, expected: dict[int, int], shared_mask: bool) -> list[str]:
    """Problems of a burst (fire_from's result): unanswered posts, check_exactly_once's, an event id twice."""
    event_ids = [e for e in run["event_id"] if e is not None]
    problems = []
    if run["errors"]:
        problems.append(f"{len(run['errors'])} post(s) not acknowledged: {run['errors'][:3]}")
    problems += check_exactly_once(expected, shared_mask)
    if len(set(event_ids)) != len(event_ids):
        problems.append("the same event id was answered to two posts")
    return problems


def check_replay(args, port: int, bodies: list[tuple[int, bytes]], headers: dict,
                 procs: list[Proc]) -> tuple[dict, str | None]:
    """Post --replay of the (processed) bodies again: each must be skipped, storing nothing.

    Returns the replay's figures and the problem found, if any."""
    from annotator.models import WebhookEvent

    total = len(bodies)
    before = stored_counts()
    step = max(1, total // args.replay)
    again = [bodies[k] for k in range(0, total, step)][:args.replay]
    r = fire_from(args.client_procs, args.client, port, again, min(args.concurrency, len(again)),
                  headers=headers, keepalive=args.keepalive)
    _, replay_pending = wait_processed(procs, args.timeout)
    after = stored_counts()
    answered = [e for e in r["event_id"] if e]
    key = "delivery_id__in" if args.ingress == "fast" else "pk__in"
    skipped = WebhookEvent.objects.filter(**{key: answered}, status=WebhookEvent.Status.SKIPPED).count()
    grown = {k: after[k] - before[k] for k in before if k != "events" and after[k] != before[k]}
    replay_ok = (not r["errors"] and not replay_pending and skipped == len(again) and not grown
                 and after["events"] - before["events"] == len(again))
    problem = None
    if not replay_ok:
        problem = (f"replay of {len(again)} payloads: {skipped} skipped, new rows {grown}, "
                   f"errors {r['errors'][:3]}, pending {replay_pending}")
    log(f"replay: {len(again)} posts, {skipped} skipped, new rows: {grown or 'none'}")
    return {"posts": len(again), "skipped": skipped, "stored_new": grown, "ok": replay_ok}, problem
