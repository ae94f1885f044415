from django.core.management.base import BaseCommand

from backend.core.blobs import blob_storage, storage_keys
from backend.core.models import Blob


class Command(BaseCommand):
    help = "Remove files in blob storage that have no Blob row (left by a crash mid-write)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only list what would be removed.")

    def handle(self, *args, dry_run: bool = False, **options):
        on_disk = storage_keys()
        known = set(Blob.objects.filter(key__in=on_disk).values_list("key", flat=True))
        orphans = sorted(on_disk - known)
        for key in orphans:
            self.stdout.write(f"{'would remove' if dry_run else 'removed'} {key}")
            if not dry_run:
                blob_storage().delete(key)
        missing = Blob.objects.exclude(key__in=on_disk).count()
        self.stdout.write(f"{len(orphans)} orphan file(s); {missing} row(s) whose file is missing")
