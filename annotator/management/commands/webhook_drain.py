"""Record the webhooks the ingress queued (see annotator/webhook_ingress.py) and queue their conversion.

    python manage.py webhook_drain            # runs until stopped (one per deployment is plenty; more are safe)
    python manage.py webhook_drain --once     # what is queued now, then exit

Looping, it records a burst once no delivery has arrived for FLAWMAP_WEBHOOK_DRAIN_QUIET_MS, or once the
oldest has waited FLAWMAP_WEBHOOK_DRAIN_MAX_DEFER_MS: the acks of a burst keep the CPU (0 = record at once).
"""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotator.services.stream import (
    webhook_stream_client,
    webhook_stream_drain,
    webhook_stream_settle_delay,
    webhook_stream_wait_for_delivery,
)


class Command(BaseCommand):
    help = "Move webhook deliveries from the ingress's Redis stream into WebhookEvents and queue their conversion."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="drain what is queued now and exit")
        parser.add_argument("--batch", type=int, default=200, help="entries per read (default 200)")
        parser.add_argument("--quiet-ms", type=int, default=None,
                            help="record once no delivery arrived for this long (default "
                                 "FLAWMAP_WEBHOOK_DRAIN_QUIET_MS; 0 = at once)")
        parser.add_argument("--max-defer-ms", type=int, default=None,
                            help="... or once the oldest waited this long (default FLAWMAP_WEBHOOK_DRAIN_MAX_DEFER_MS)")

    def handle(self, *args, once: bool, batch: int, quiet_ms: int | None, max_defer_ms: int | None, **options):
        quiet_ms = settings.FLAWMAP_WEBHOOK_DRAIN_QUIET_MS if quiet_ms is None else quiet_ms
        max_defer_ms = settings.FLAWMAP_WEBHOOK_DRAIN_MAX_DEFER_MS if max_defer_ms is None else max_defer_ms
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        if quiet_ms < 0 or max_defer_ms < 0:
            raise CommandError("--quiet-ms and --max-defer-ms must be >= 0")
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        total = 0
        try:
            client = webhook_stream_client()
            while not stopping:
                if not once and quiet_ms:
                    delay = webhook_stream_settle_delay(quiet_ms=quiet_ms, max_defer_ms=max_defer_ms, client=client)
                    if delay is None:  # nothing queued: wait for the next delivery without claiming it
                        webhook_stream_wait_for_delivery(timeout_ms=1000, client=client)
                        continue
                    if delay > 0:
                        time.sleep(delay)
                        continue
                report = webhook_stream_drain(count=batch, block_ms=None if once else 1000, client=client)
                total += report.recorded
                if report.rejected:
                    self.stderr.write(f"{report.rejected} deliveries stored as failed events "
                                      "(see /api/labelstudio/events/?status=failed)")
                if once and not (report.recorded or report.duplicates or report.rejected):
                    break
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"recorded {total} webhook deliveries")
