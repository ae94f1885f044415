from django.db import models


class Blob(models.Model):
    """Content-addressed file in the "blobs" storage: identical bytes are stored once.

    Every file in that storage has exactly one Blob row and every Blob row has its file;
    `blobs.blob_store` and `blobs_gc` keep it that way.
    """

    sha256 = models.CharField(max_length=64, primary_key=True)
    key = models.CharField(max_length=255, unique=True)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key
