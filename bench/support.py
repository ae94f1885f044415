"""What the benchmarks share: Django set up on a throwaway database, photo-like test images, blob storage, CPU load."""

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Test images: smooth shading + mid-frequency texture + sensor-like grain, distinct per index.
# --------------------------------------------------------------------------------------------

_GRID: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def photo_like(index: int, size: int = 512) -> np.ndarray:
    rng = np.random.default_rng(1_000_003 + index)
    if size not in _GRID:
        axis = np.arange(size, dtype=np.float32) / size
        _GRID[size] = (axis[None, :], axis[:, None])  # broadcasting row / column
    x, y = _GRID[size]
    ones = np.ones((size, size), dtype=np.float32)
    # Grey-level structure fields, mixed into R, G, B with per-image weights below.
    fields = [ones, x * ones, y * ones]  # flat colour and lighting gradients
    for _ in range(4):  # low-frequency waves at random orientations
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(0.5, 3.0), rng.uniform(0, 2 * np.pi)
        kx, ky = np.float32(2 * np.pi * freq * np.cos(theta)), np.float32(2 * np.pi * freq * np.sin(theta))
        fields.append(np.sin(kx * x + ky * y + np.float32(phase)))
    for _ in range(5):  # soft blobs ("objects"); a Gaussian is separable, so an outer product
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
        fields.append(np.exp(-((x - cx) ** 2) / (2 * r * r)) * np.exp(-((y - cy) ** 2) / (2 * r * r)))
    for cells in (16, 64):  # texture (foliage, fabric, ...): coarse noise upsampled smoothly
        coarse = np.clip(rng.standard_normal((cells, cells), dtype=np.float32) * 40 + 128, 0, 255)
        up = Image.fromarray(coarse.astype(np.uint8), "L").resize((size, size), Image.BICUBIC)
        fields.append((np.asarray(up, dtype=np.float32) - 128) / 40)
    weights = np.concatenate([
        rng.uniform(40, 200, size=(1, 3)),            # base colour
        rng.uniform(-60, 60, size=(2, 3)),            # gradients
        rng.uniform(-20, 20, size=(4, 3)),            # waves
        rng.uniform(-70, 70, size=(5, 3)),            # blobs
        rng.uniform(4, 12, size=(1, 1)) * rng.uniform(0.7, 1.0, size=(1, 3)),  # textures: mostly
        rng.uniform(3, 8, size=(1, 1)) * rng.uniform(0.7, 1.0, size=(1, 3)),   # luminance
    ]).astype(np.float32)
    img = np.tensordot(np.stack(fields, axis=-1), weights, axes=([2], [0]))
    # Fine grain, as a camera sensor / a decoded photo has; this is what keeps PNG sizes honest.
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(2.5)
    return np.clip(img, 0, 255).astype(np.uint8)


def background_cpu_busy(seconds: float = 1.0) -> float | None:
    """Share (0..1) of all CPUs busy over `seconds` while our servers are idle: other load on the machine."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values) - idle, sum(values)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):  # not Linux
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def blob_storage_at(location: Path):
    from django.test import override_settings

    backend = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(location)}}
    from django.conf import settings

    return override_settings(STORAGES={**settings.STORAGES, "default": backend, "blobs": backend})


# --------------------------------------------------------------------------------------------
# Django and the throwaway database.
# --------------------------------------------------------------------------------------------

def django_setup(work: Path, *, media: str = "media-unused", env: dict[str, str] | None = None) -> dict[str, str]:
    """Configure Django in this process on `work`; returns the environment variables it set.

    Nothing of the real var/ is used: SQLite fallback, media and static all point into `work`. A benchmark
    that starts server processes names the media folder they write to (`media`, under `work`), passes the
    further variables they need as `env`, and starts them with the returned overrides.
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    overrides = {
        "DJANGO_SETTINGS_MODULE": "backend.config.settings",
        "FLAWMAP_VAR_DIR": str(work / "var"),
        "FLAWMAP_MEDIA_ROOT": str(work / media),
        "FLAWMAP_STORAGE": "local",
        "DJANGO_DEBUG": "false",  # DEBUG=True would record every query
        **(env or {}),
    }
    os.environ.update(overrides)
    (work / "var").mkdir(parents=True, exist_ok=True)
    (work / media).mkdir(parents=True, exist_ok=True)
    import django

    django.setup()
    return overrides


def create_bench_db(work: Path, label: str) -> tuple[str, str]:
    """Create and migrate a dedicated database; returns (old NAME, vendor) for drop_bench_db."""
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = str(work / "bench.sqlite3")
    else:
        connection.settings_dict["TEST"]["NAME"] = f"flawmap_bench_{label}_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    return old_name, connection.vendor


def drop_bench_db(old_name: str) -> None:
    from django.db import connection

    connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)


def drop_bench_db_after_servers(old_name: str) -> None:
    """drop_bench_db for a database server processes used: one killed hard may leave a session behind
    for a moment; end those sessions and drop again."""
    from django.db import connection, connections

    name = connection.settings_dict["NAME"]
    connections.close_all()
    try:
        drop_bench_db(old_name)
    except Exception:
        import psycopg

        s = connection.settings_dict
        with psycopg.connect(dbname=old_name, user=s["USER"] or None, password=s["PASSWORD"] or None,
                             host=s["HOST"] or None, port=s["PORT"] or None, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
            time.sleep(0.5)
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.settings_dict["NAME"] = old_name


def bench_database_url(name: str) -> str:
    """DATABASE_URL with the database `name` instead, for the server processes a benchmark starts."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def teardown(old_name: str | None, work: Path, keep: bool = False, drop=None) -> None:
    """Drop the throwaway database and remove the work folder, reporting (not raising) a failed drop."""
    import shutil

    if old_name is not None:
        try:
            (drop or drop_bench_db)(old_name)
        except Exception as exc:  # report, but still remove the files
            log(f"could not drop the benchmark database: {exc}")
    if keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def png_variant(png: bytes, index: int) -> bytes:
    """The same picture as `png` with different bytes: a tEXt chunk naming `index` after the header. Decoding
    costs the same, the sha256 differs, so many distinct files come from a few generated pictures."""
    import struct
    import zlib

    body = b"tEXt" + b"flawmap-variant\0" + str(index).encode()
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    end_of_header = 8 + 4 + 4 + 13 + 4  # signature, IHDR length, type, data, CRC
    return png[:end_of_header] + chunk + png[end_of_header:]
