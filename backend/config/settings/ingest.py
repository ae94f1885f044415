from backend.config.settings.env import env

# Larger images are refused before decoding (decompression-bomb guard).
FLAWMAP_MAX_PIXELS = env.int("FLAWMAP_MAX_PIXELS", default=64_000_000)
# Largest accepted upload per file, in bytes.
FLAWMAP_MAX_UPLOAD_BYTES = env.int("FLAWMAP_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = FLAWMAP_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
