from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backend.core.blobs import blob_orphans_delete


class Command(BaseCommand):
    help = (
        "Remove files in blob storage that no Blob row references (left by a crash mid-write) once they are older "
        "than the grace period; younger ones may belong to a write still in progress."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only list what would be removed.")
        parser.add_argument(
            "--grace-seconds", type=int, default=None,
            help="Keep orphans modified less than this long ago (default FLAWMAP_BLOBS_GC_GRACE_SECONDS, 86400).")

    def handle(self, *args, dry_run: bool = False, grace_seconds: int | None = None, **options):
        grace = settings.FLAWMAP_BLOBS_GC_GRACE_SECONDS if grace_seconds is None else grace_seconds
        if grace < 0:
            raise CommandError(f"--grace-seconds must be 0 or more, not {grace}")
        sweep = blob_orphans_delete(grace_seconds=grace, dry_run=dry_run)
        for key in sweep.removed:
            self.stdout.write(f"{'would remove' if dry_run else 'removed'} {key}")
        self.stdout.write(
            f"{len(sweep.removed)} orphan file(s) {'to remove' if dry_run else 'removed'}; "
            f"{len(sweep.young)} younger than {grace} s kept; {len(sweep.held)} in use kept; "
            f"{sweep.rows_missing_file} row(s) whose file is missing"
        )
