from backend.config.settings.env import VAR_DIR, env

# Blobs (images, masks, conditional inputs) are content-addressed files in the "blobs" storage.
FLAWMAP_STORAGE = env.str("FLAWMAP_STORAGE", default="") or "local"
MEDIA_ROOT = env.str("FLAWMAP_MEDIA_ROOT", default="") or str(VAR_DIR / "media")
MEDIA_URL = "/media/"


def s3_storage_config(*, bucket: str, endpoint_url: str | None = None, region: str = "us-east-1",
                      access_key: str | None = None, secret_key: str | None = None) -> dict:
    """The "blobs" storage entry for S3 (or an S3-compatible endpoint); tests build theirs with it too."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region,
            "access_key": access_key or None,
            "secret_key": secret_key or None,
            "file_overwrite": True,  # content-addressed: same key = same bytes
            "querystring_auth": True,
            # Pre-signed links (export downloads) with Signature V4: buckets made since 2020 refuse V2 links,
            # which boto3 would otherwise sign for us-east-1.
            "signature_version": "s3v4",
        },
    }


if FLAWMAP_STORAGE == "s3":
    _blobs = s3_storage_config(
        bucket=env.str("FLAWMAP_S3_BUCKET"),
        endpoint_url=env.str("FLAWMAP_S3_ENDPOINT_URL", default=""),
        region=env.str("FLAWMAP_S3_REGION", default="us-east-1"),
        access_key=env.str("AWS_ACCESS_KEY_ID", default=""),
        secret_key=env.str("AWS_SECRET_ACCESS_KEY", default=""),
    )
elif FLAWMAP_STORAGE == "local":
    _blobs = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
else:
    raise ValueError(f"FLAWMAP_STORAGE must be 'local' or 's3', got {FLAWMAP_STORAGE!r}")

STORAGES = {
    "default": _blobs,
    "blobs": _blobs,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# blobs_gc removes a file no row references only once it is this old: ingest writes the file before its row
# commits, so a younger one may belong to a transaction still in flight.
FLAWMAP_BLOBS_GC_GRACE_SECONDS = env.int("FLAWMAP_BLOBS_GC_GRACE_SECONDS", default=86400)

# A worker's scratch folder for API exports: the finished archive goes to blob storage (the CLI writes wherever
# it is told). Exports made before that are still served from here, on the host that has them.
FLAWMAP_EXPORT_DIR = env.str("FLAWMAP_EXPORT_DIR", default="") or str(VAR_DIR / "exports")
# S3: an export download redirects to a pre-signed link to the archive that expires after this many seconds.
FLAWMAP_EXPORT_LINK_SECONDS = env.int("FLAWMAP_EXPORT_LINK_SECONDS", default=300)
# S3: the endpoint browsers reach, when it is not FLAWMAP_S3_ENDPOINT_URL (an address inside the cluster); the
# links are signed for it.
FLAWMAP_S3_PUBLIC_ENDPOINT_URL = env.str("FLAWMAP_S3_PUBLIC_ENDPOINT_URL", default="")
