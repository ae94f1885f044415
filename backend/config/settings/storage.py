from backend.config.settings.env import VAR_DIR, env

# Blobs (images, masks, conditional inputs) are content-addressed files in the "blobs" storage.
FLAWMAP_STORAGE = env.str("FLAWMAP_STORAGE", default="local")
MEDIA_ROOT = env.str("FLAWMAP_MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"

if FLAWMAP_STORAGE == "s3":
    _blobs = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("FLAWMAP_S3_BUCKET"),
            "endpoint_url": env.str("FLAWMAP_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("FLAWMAP_S3_REGION", default="us-east-1"),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "file_overwrite": True,  # content-addressed: same key = same bytes
            "querystring_auth": True,
        },
    }
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
