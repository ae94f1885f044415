from backend.config.settings.env import env

# Larger images are refused before decoding (decompression-bomb guard).
FLAWMAP_MAX_PIXELS = env.int("FLAWMAP_MAX_PIXELS", default=64_000_000)
# Largest accepted upload, in bytes: per file, and all files of one upload request together (image ingest,
# masks). A larger body is a 413 before it is read (backend/core/request_limits.py).
FLAWMAP_MAX_UPLOAD_BYTES = env.int("FLAWMAP_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
# Largest body of every other request (JSON, forms), and of a multipart body's non-file fields, in bytes.
FLAWMAP_MAX_JSON_BYTES = env.int("FLAWMAP_MAX_JSON_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = FLAWMAP_MAX_JSON_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# The byte counter goes first: it stops a multipart upload past its route's limit before the others store it.
FILE_UPLOAD_HANDLERS = [
    "backend.core.request_limits.BodyLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
