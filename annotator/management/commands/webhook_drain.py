"""Record the webhooks the ingress queued (see annotator/webhook_ingress.py) and queue their conversion.

    python manage.py webhook_drain            # runs until stopped (one per deployment is plenty; more are safe)
    python manage.py webhook_drain --once     # what is queued now, then exit
"""

import signal

from django.core.management.base import BaseCommand, CommandError

from annotator.services.stream import webhook_stream_client, webhook_stream_drain


class Command(BaseCommand):
    help = "Move webhook deliveries from the ingress's Redis stream into WebhookEvents and queue their conversion."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="drain what is queued now and exit")
        parser.add_argument("--batch", type=int, default=200, help="entries per read (default 200)")

    def handle(self, *args, once: bool, batch: int, **options):
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        total = 0
        try:
            client = webhook_stream_client()
            while not stopping:
                report = webhook_stream_drain(count=batch, block_ms=None if once else 1000, client=client)
                total += report.recorded
                if report.rejected:
                    self.stderr.write(f"{report.rejected} unreadable stream entries stored as failed events")
                if once and not (report.recorded or report.duplicates or report.rejected):
                    break
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"recorded {total} webhook deliveries")
