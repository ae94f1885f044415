"""Deliveries queued by the webhook ingress (annotator/webhook_ingress.py) become WebhookEvents.

The ingress appends raw bodies to a Redis stream. Drainers read it through one consumer group, so several
may run side by side; an entry is acknowledged and deleted only after its WebhookEvent is committed, and
entries a dead drainer had claimed are taken over after `claim_idle`. Recording is keyed by the stream entry
id, so an entry seen twice is stored once. A read is recorded with one insert (entry by entry should the
database refuse it) and converted as one batch job (annotator/services/intake_batch.py): the same checks and
idempotency keys as the Django endpoint's one job per event, without its per-event cost.

A looping drainer yields to bursts (`webhook_stream_settle_delay`): recording and converting cost far more CPU
than an acknowledgement, and on a small machine they would slow the acks Label Studio times out after 1 s.
So it waits until no delivery has arrived for a quiet spell, but never lets the oldest wait past a bound.
"""

import logging
import os
import socket
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator import tasks
from annotator.models import WebhookEvent
from annotator.services.events import webhook_event_build, webhook_event_record
from annotator.webhook_check import WebhookRejected, webhook_body_check

logger = logging.getLogger(__name__)

GROUP = "flawmap-drain"
# An entry handed out this often was never acknowledged: each drainer that took it died on it.
MAX_DELIVERIES = 5


@dataclass
class DrainReport:
    recorded: int = 0
    duplicates: int = 0
    rejected: int = 0


def webhook_stream_client() -> redis.Redis:
    if not settings.FLAWMAP_WEBHOOK_STREAM_URL:
        raise RuntimeError("no webhook stream: set FLAWMAP_WEBHOOK_STREAM_URL or a Redis CELERY_BROKER_URL")
    return redis.Redis.from_url(settings.FLAWMAP_WEBHOOK_STREAM_URL)


def _id_str(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def _ensure_group(client: redis.Redis, stream: str) -> None:
    try:
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _record(entry_id: str, fields: dict) -> WebhookEvent | None:
    """Store one entry as a WebhookEvent (failed when its payload is invalid); None when it was stored before."""
    try:  # the ingress ran the same check; an entry from elsewhere (or an older ingress) may not pass it
        payload = webhook_body_check(body=fields[b"payload"], max_bytes=settings.FLAWMAP_WEBHOOK_MAX_BYTES)
    except WebhookRejected as exc:
        raise ValueError(exc.detail) from None
    with transaction.atomic():
        if WebhookEvent.objects.filter(delivery_id=entry_id).exists():
            return None
        event = webhook_event_record(payload=payload, delivery_id=entry_id)
        if event.status == WebhookEvent.Status.PENDING:
            transaction.on_commit(lambda: _enqueue(event.pk))
    return event


@transaction.atomic
def _record_unreadable(entry_id: str, fields: dict, error: str) -> None:
    raw = fields.get(b"payload", b"")[:10_000].decode("utf-8", errors="replace").replace("\x00", "")
    WebhookEvent.objects.get_or_create(delivery_id=entry_id, defaults={
        "action": "", "payload": {"raw": raw}, "status": WebhookEvent.Status.FAILED,
        "error": error.replace("\x00", "")[:2000], "processed_at": timezone.now()})


def _deliveries(client: redis.Redis, stream: str, entry_id: str) -> int:
    """How often the group has handed this entry out (XAUTOCLAIM counts as one)."""
    pending = client.xpending_range(stream, GROUP, min=entry_id, max=entry_id, count=1)
    return int(pending[0]["times_delivered"]) if pending else 0


def _enqueue(event_id: int) -> None:
    # As for the Django endpoint: if the broker is down, the stale-event sweep processes it later.
    try:
        tasks.process_webhook_event.delay(event_id)
    except Exception:
        logger.exception("could not enqueue webhook event %s; the stale-event sweep will process it", event_id)


def webhook_stream_drain(*, count: int = 200, block_ms: int | None = None, claim_idle_ms: int = 60_000,
                         consumer: str | None = None, client: redis.Redis | None = None) -> DrainReport:
    """Record up to `count` queued deliveries (waiting up to `block_ms` for the first one when given).

    A drainer that loops should pass its `client` (one connection, not one per call). The consumer name
    defaults to host + process id: one consumer per drainer process, not a new one in Redis per call."""
    client = client or webhook_stream_client()
    stream = settings.FLAWMAP_WEBHOOK_STREAM
    consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
    _ensure_group(client, stream)
    # Entries a dead drainer read but never acknowledged come first.
    _, claimed, _ = client.xautoclaim(stream, GROUP, consumer, min_idle_time=claim_idle_ms, start_id="0-0",
                                      count=count)
    entries = list(claimed)
    if len(entries) < count:
        read = client.xreadgroup(GROUP, consumer, {stream: ">"}, count=count - len(entries), block=block_ms)
        for _, items in read or []:
            entries.extend(items)
    report = DrainReport()
    claimed_ids = {_id_str(raw_id) for raw_id, _ in claimed}
    done, batch = [], []
    for raw_id, fields in entries:
        entry_id = _id_str(raw_id)
        if not fields:  # deleted (or trimmed past FLAWMAP_WEBHOOK_STREAM_MAXLEN) while pending: nothing to record
            client.xack(stream, GROUP, entry_id)
            continue
        if entry_id in claimed_ids and _deliveries(client, stream, entry_id) > MAX_DELIVERIES:
            # Every drainer that took it died before acknowledging (killed while recording it): stop the cycle.
            _record_unreadable(entry_id, fields, f"gave up after {MAX_DELIVERIES} deliveries: each drainer that "
                                                 "took this entry stopped before recording it")
            report.rejected += 1
            done.append(entry_id)
        else:
            batch.append((entry_id, fields))
    pending = _record_batch(batch, report)
    if pending:
        _enqueue_batch(pending)
    done += [entry_id for entry_id, _ in batch]
    if done:  # only now that every entry's event is committed
        pipe = client.pipeline(transaction=False)
        pipe.xack(stream, GROUP, *done)
        pipe.xdel(stream, *done)
        pipe.execute()
    return report


def _record_batch(batch: list[tuple[str, dict]], report: DrainReport) -> list[int]:
    """Record the entries with one insert in one transaction; returns the pending events' ids, to be converted
    as one batch. Should that fail (a value the database refuses, a concurrent drainer's same entry), each
    entry is recorded on its own so that a bad one fails alone (`_record_one`, which queues its own event)."""
    parsed, single = [], []
    for entry_id, fields in batch:
        try:  # the ingress ran the same check; an entry from elsewhere (or an older ingress) may not pass it
            payload = webhook_body_check(body=fields[b"payload"], max_bytes=settings.FLAWMAP_WEBHOOK_MAX_BYTES)
        except (WebhookRejected, KeyError):
            single.append((entry_id, fields))
            continue
        parsed.append((entry_id, payload))
    events = []
    if parsed:
        try:
            with transaction.atomic():
                ids = [entry_id for entry_id, _ in parsed]
                seen = set(WebhookEvent.objects.filter(delivery_id__in=ids).values_list("delivery_id", flat=True))
                events = WebhookEvent.objects.bulk_create(
                    [webhook_event_build(payload=payload, delivery_id=entry_id)
                     for entry_id, payload in parsed if entry_id not in seen])
            report.duplicates += len(seen)
        except Exception as exc:  # a DataError, an IntegrityError: find the entry, record the rest
            logger.warning("a batch of %d webhook entries was recorded one by one: %s", len(parsed), exc)
            events, single = [], batch
    for event in events:
        if event.status == WebhookEvent.Status.PENDING:
            report.recorded += 1
        else:
            report.rejected += 1
    for entry_id, fields in single:
        _record_one(entry_id, fields, report)
    return [e.pk for e in events if e.status == WebhookEvent.Status.PENDING]


def _enqueue_batch(event_ids: list[int]) -> None:
    # If the broker is down, the stale-event sweep processes them later (one by one).
    try:
        tasks.process_webhook_events.delay(event_ids)
    except Exception:
        logger.exception("could not enqueue %d webhook events; the stale-event sweep will process them",
                         len(event_ids))


def _record_one(entry_id: str, fields: dict, report: DrainReport) -> None:
    """Record one entry whatever it holds: a failure is this entry's (a failed event), never the next one's.
    Only when even the failed event cannot be written (the database is down) does the error propagate, leaving
    the entry unacknowledged for the next drain."""
    try:
        event = _record(entry_id, fields)
    except Exception as exc:  # bad JSON, or a value the database refuses (DataError, IntegrityError)
        logger.warning("webhook stream entry %s stored as a failed event: %s", entry_id, exc)
        _record_unreadable(entry_id, fields, f"unreadable stream entry: {exc.__class__.__name__}: {exc}")
        report.rejected += 1
        return
    if event is None:
        report.duplicates += 1
    elif event.status == WebhookEvent.Status.FAILED:
        report.rejected += 1
    else:
        report.recorded += 1


def _entry_ms(entry_id: bytes | str) -> int:
    """A stream entry id is "<milliseconds>-<sequence>" on the Redis server's clock."""
    return int(_id_str(entry_id).split("-", 1)[0])


def webhook_stream_settle_delay(*, quiet_ms: int, max_defer_ms: int, client: redis.Redis | None = None) -> float | None:
    """Seconds a looping drainer should wait before recording: 0 to go now, None when nothing is queued.

    Go when the newest delivery is at least `quiet_ms` old (the burst is over) or the oldest unrecorded one
    has waited `max_defer_ms` (a steady stream is still recorded, at most that late). Recorded entries are
    deleted, so the stream's first entry is the oldest unrecorded one. Ages use Redis's clock, as the ids do."""
    client = client or webhook_stream_client()
    stream = settings.FLAWMAP_WEBHOOK_STREAM
    newest = client.xrevrange(stream, count=1)
    if not newest:
        return None
    oldest = client.xrange(stream, count=1)
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    quiet_left = quiet_ms - (now_ms - _entry_ms(newest[0][0]))
    defer_left = max_defer_ms - (now_ms - _entry_ms(oldest[0][0])) if oldest else 0
    left = min(quiet_left, defer_left, max_defer_ms)  # an id set in the future must not stall the drain
    return max(0.0, left / 1000)


def webhook_stream_wait_for_delivery(*, timeout_ms: int, client: redis.Redis | None = None) -> None:
    """Block until a delivery is appended (or the timeout), without claiming it."""
    client = client or webhook_stream_client()
    client.xread({settings.FLAWMAP_WEBHOOK_STREAM: "$"}, count=1, block=timeout_ms)


def webhook_stream_backlog(*, client: redis.Redis | None = None) -> int:
    """Entries queued but not yet recorded (including ones read and not acknowledged)."""
    client = client or webhook_stream_client()
    return int(client.xlen(settings.FLAWMAP_WEBHOOK_STREAM))
