"""Ingest throughput benchmark: Flawmap's folder ingest against a bare read/decode/hash/write loop.

    python bench/ingest.py [--n 1000 | --sizes 1000,10000] [--rounds 3] [--images DIR] [--json] [--strict]
                           [--profile]
    make bench    # the same under scripts/with_test_services.py (throwaway PostgreSQL unless DATABASE_URL is set)

Both loops work on the same N distinct 512x512 PNGs, read from the page cache (up to 1000 generated
pictures; beyond that, byte variants of them with the same pixels: see `generate`):

* bare:   list the folder; per file read the bytes, decode with Pillow (full load()), sha256,
          write the bytes to a fresh folder.
* ingest: what `manage.py ingest FOLDER --generator G --task other` does: folder_plan +
          folder_items + images_ingest_batch (checks in threads ahead, plain images stored in batches with
          bulk inserts), blobs written to a fresh folder.

Reported: images/s of each (best of --rounds; the order alternates between rounds) and the ratio
ingest/bare against the target (0.8), for each N given. Exit status is 0 unless --strict and a ratio
misses it.

Database: DATABASE_URL when set (PostgreSQL): a dedicated database `flawmap_bench_ingest_<pid>` is
created and migrated on that server the way Django's test runner does it (create_test_db), and
dropped at the end (destroy_test_db), also on Ctrl-C / SIGTERM; the database DATABASE_URL names is
never written to. Without DATABASE_URL: a temporary SQLite file.
Blobs, the SQLite file and everything else go under a temporary folder that is removed at the end.
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image
from support import blob_storage_at, create_bench_db, django_setup, log, photo_like, png_variant, teardown

TARGET_RATIO = 0.8
SIZE = 512
BASE_PICTURES = 1000


# --------------------------------------------------------------------------------------------
# Test images: smooth shading + mid-frequency texture + sensor-like grain, distinct per index.
# --------------------------------------------------------------------------------------------

def _write_png(args: tuple[int, str]) -> tuple[str, int]:
    index, folder = args
    buf = io.BytesIO()
    # Level 4 gives the same sizes as Pillow's default (6) on these images, encoding ~40% faster.
    Image.fromarray(photo_like(index), "RGB").save(buf, format="PNG", compress_level=4)
    data = buf.getvalue()
    (Path(folder) / f"img_{index:06d}.png").write_bytes(data)
    return hashlib.sha256(data).hexdigest(), len(data)


def generate(folder: Path, n: int, workers: int) -> dict:
    """N distinct PNGs: up to BASE_PICTURES generated pictures, the rest variants of them (png_variant: same
    pixels, so the same decoding cost, different bytes); generating 10 000 pictures would take longer than
    the measurement."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(p.name for p in folder.iterdir())
    expected = [f"img_{i:06d}.png" for i in range(n)]
    base = min(n, BASE_PICTURES)
    t0 = time.perf_counter()
    if existing == expected:  # --images folder from an earlier run with the same --n
        results = []
        for name in expected:
            data = (folder / name).read_bytes()
            results.append((hashlib.sha256(data).hexdigest(), len(data)))
        reused = True
    elif existing:
        raise SystemExit(f"{folder} holds other files than {n} benchmark images; give an empty or new folder")
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_write_png, [(i, str(folder)) for i in range(base)], chunksize=8))
        for i in range(base, n):
            data = png_variant((folder / f"img_{i % base:06d}.png").read_bytes(), i)
            (folder / f"img_{i:06d}.png").write_bytes(data)
            results.append((hashlib.sha256(data).hexdigest(), len(data)))
        reused = False
    elapsed = time.perf_counter() - t0
    hashes = {sha for sha, _ in results}
    if len(hashes) != n:
        raise SystemExit(f"generated images are not distinct: {n - len(hashes)} duplicate(s)")
    sizes = [size for _, size in results]
    return {"seconds": elapsed, "mean_bytes": statistics.mean(sizes), "total_bytes": sum(sizes), "reused": reused}


def warm_page_cache(folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        path.read_bytes()


# --------------------------------------------------------------------------------------------
# The two measured loops.
# --------------------------------------------------------------------------------------------

def run_bare(src: Path, out: Path, n: int) -> float:
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    count = 0
    for path in sorted(p for p in src.iterdir() if p.is_file()):
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        sha = hashlib.sha256(data).hexdigest()
        (out / f"{sha}.png").write_bytes(data)
        count += 1
    elapsed = time.perf_counter() - t0
    if count != n:
        raise SystemExit(f"bare loop saw {count} files, expected {n}")
    return elapsed


def run_ingest(src: Path, media: Path, n: int, generator, task, profile_to: Path | None = None) -> float:
    from backend.images.batch import images_ingest_batch
    from backend.images.folder import folder_items, folder_plan

    media.mkdir(parents=True)
    with blob_storage_at(media):
        profiler = None
        if profile_to is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0 = time.perf_counter()
        plan = folder_plan(src)
        report = images_ingest_batch(items=folder_items(plan), generator=generator, task=task)
        elapsed = time.perf_counter() - t0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile_to))
    if report.ingested != n or report.duplicates or report.rejected:
        raise SystemExit(f"ingest did not store every image: {report.as_dict()}")
    stored = sum(1 for p in media.rglob("*") if p.is_file())
    if stored != n:
        raise SystemExit(f"ingest wrote {stored} blob files, expected {n}")
    return elapsed


def reset_ingested() -> None:
    """Empty the image and blob tables (TRUNCATE ... CASCADE on PostgreSQL) for the next round."""
    from django.core.management.color import no_style
    from django.db import connection

    from backend.core.models import Blob
    from backend.images.models import GeneratedImage

    tables = [GeneratedImage._meta.db_table, Blob._meta.db_table]
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables, allow_cascade=True))
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"VACUUM ANALYZE {', '.join(connection.ops.quote_name(t) for t in tables)}")


# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of images (default 1000)")
    parser.add_argument("--sizes", default="", help="several N in one run, e.g. 1000,10000 (instead of --n); a "
                        "ratio for each; the first 1000 pictures are generated, the rest are byte variants")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measured rounds of each loop, order alternating (default 3); best is reported")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 8),
                        help="processes generating the images (default: CPUs, at most 8)")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temporary folder (default: $TMPDIR)")
    parser.add_argument("--images", type=Path, default=None,
                        help="keep the generated images in this folder and reuse them on later runs with the "
                             "same --n (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (images, blobs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the figures on stdout")
    parser.add_argument("--strict", action="store_true", help=f"exit 1 when ingest/bare < {TARGET_RATIO}")
    parser.add_argument("--profile", type=Path, nargs="?", const=Path("-"), default=None,
                        help="after the measured rounds, run one more ingest under cProfile; print the top "
                             "functions (or save the stats to the given file)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rounds < 1 or args.workers < 1:
        parser.error("--n, --rounds and --workers must be at least 1")
    return args


class Terminated(KeyboardInterrupt):
    pass


def _on_sigterm(*_) -> None:
    raise Terminated()


def measure(src: Path, n: int, rounds: int, work: Path, generator, task) -> dict:
    """Both loops over the N images in `src`, alternating, `rounds` times; the figures for this N."""
    warm_page_cache(src)  # untimed; both loops then read from the page cache
    load_start = os.getloadavg()[0]
    log(f"N = {n}: load average (1 min) before measuring: {load_start:.2f} on {os.cpu_count()} CPU(s)")
    bare_times, ingest_times = [], []
    for r in range(rounds):
        order = ("bare", "ingest") if r % 2 == 0 else ("ingest", "bare")
        for kind in order:
            os.sync()  # start each phase without the previous phase's dirty pages pending
            if kind == "bare":
                out = work / f"bare-out-{r}"
                bare_times.append(run_bare(src, out, n))
                log(f"N = {n} round {r + 1}: bare   {n / bare_times[-1]:8.1f} images/s ({bare_times[-1]:.2f} s)")
            else:
                out = work / f"media-{r}"
                reset_ingested()
                ingest_times.append(run_ingest(src, out, n, generator, task))
                log(f"N = {n} round {r + 1}: ingest {n / ingest_times[-1]:8.1f} images/s "
                    f"({ingest_times[-1]:.2f} s)")
            shutil.rmtree(out)
    bare_ips, ingest_ips = n / min(bare_times), n / min(ingest_times)
    ratio = ingest_ips / bare_ips
    return {"n": n, "bare_images_per_s": round(bare_ips, 1), "ingest_images_per_s": round(ingest_ips, 1),
            "ratio": round(ratio, 3), "target": TARGET_RATIO, "pass": ratio >= TARGET_RATIO,
            "bare_seconds": [round(t, 3) for t in bare_times], "ingest_seconds": [round(t, 3) for t in ingest_times],
            "loadavg_1min_start_end": [round(load_start, 2), round(os.getloadavg()[0], 2)]}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sizes = sorted({int(v) for v in args.sizes.split(",")}) if args.sizes else [args.n]
    # SIGTERM (e.g. a CI timeout) must still drop the database and remove the files, like Ctrl-C.
    signal.signal(signal.SIGTERM, _on_sigterm)
    work = Path(tempfile.mkdtemp(prefix="flawmap-bench-", dir=args.dir))
    old_name = None
    try:
        root = args.images.resolve() if args.images else work / "images"
        sources, gens = {}, {}
        for n in sizes:
            sources[n] = root if len(sizes) == 1 else root / f"n{n}"
            log(f"images: {n} PNGs ({SIZE}x{SIZE} RGB) in {sources[n]} (generating with {args.workers} worker(s) "
                "unless already there)...")
            gens[n] = gen = generate(sources[n], n, args.workers)
            log(f"{'reused' if gen['reused'] else 'generated'} in {gen['seconds']:.1f} s, "
                f"mean {gen['mean_bytes'] / 1024:.0f} KiB/file ({gen['total_bytes'] / 2**20:.0f} MiB); "
                "generation is not measured")

        django_setup(work)
        from django.db import connection

        t0 = time.perf_counter()
        old_name, vendor = create_bench_db(work, "ingest")
        db_label = f"{vendor} ({connection.settings_dict['NAME']}, throwaway)"
        log(f"created and migrated database {db_label} in {time.perf_counter() - t0:.1f} s")

        from backend.images.services import generator_create, task_resolve

        generator = generator_create(name="bench", version=str(os.getpid()))
        task = task_resolve(slug="other")
        by_size = [measure(sources[n], n, args.rounds, work, generator, task) for n in sizes]

        profile_text = None
        if args.profile is not None:
            import pstats

            n = sizes[0]
            reset_ingested()
            stats_file = work / "ingest.prof" if str(args.profile) == "-" else args.profile
            os.sync()
            t = run_ingest(sources[n], work / "media-profile", n, generator, task, profile_to=stats_file)
            log(f"profiled ingest: {n / t:.1f} images/s under cProfile (not counted)")
            buf = io.StringIO()
            pstats.Stats(str(stats_file), stream=buf).sort_stats("cumulative").print_stats(35)
            buf.write("\n")
            pstats.Stats(str(stats_file), stream=buf).sort_stats("tottime").print_stats(25)
            profile_text = buf.getvalue()
            if str(args.profile) != "-":
                log(f"profile stats saved to {args.profile}")

        passed = all(f["pass"] for f in by_size)
        first = by_size[0]
        figures = {  # the first (smallest) size at the top, as bench/all.py reads it; every size in by_size
            **first, "database": vendor, "rounds": args.rounds, "pass": passed,
            "ratio": min(f["ratio"] for f in by_size), "by_size": by_size,
            "generation_seconds": round(sum(g["seconds"] for g in gens.values()), 1),
            "generation_reused": all(g["reused"] for g in gens.values()),
            "mean_png_bytes": round(gens[sizes[0]]["mean_bytes"]),
        }
        if profile_text:
            print(profile_text, file=sys.stderr if args.json else sys.stdout)
        if args.json:
            print(json.dumps(figures))
        else:
            print(f"ingest benchmark (best of {args.rounds} round(s), {SIZE}x{SIZE} PNG, "
                  f"mean {gens[sizes[0]]['mean_bytes'] / 1024:.0f} KiB, {vendor})")
            print(f"  {'images (N)':>10}  {'bare images/s':>13}  {'ingest images/s':>15}  ratio ingest/bare")
            for f in by_size:
                print(f"  {f['n']:>10}  {f['bare_images_per_s']:>13.1f}  {f['ingest_images_per_s']:>15.1f}  "
                      f"{f['ratio']:.3f}  (target >= {TARGET_RATIO}: {'PASS' if f['pass'] else 'FAIL'})")
            for f in by_size:
                print(f"  (N = {f['n']}, per round, s: bare {', '.join(f'{t:.2f}' for t in f['bare_seconds'])}; "
                      f"ingest {', '.join(f'{t:.2f}' for t in f['ingest_seconds'])}; load average "
                      f"{' -> '.join(str(v) for v in f['loadavg_1min_start_end'])} on {os.cpu_count()} CPUs)")
        return 1 if (args.strict and not passed) else 0
    finally:
        teardown(old_name, work, args.keep)


def _interrupt_in(exc: BaseException | None) -> KeyboardInterrupt | None:
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        exc = exc.__context__
    return None


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (Exception, KeyboardInterrupt) as exc:
        # An interrupt inside a database call can surface as a database error raised while the
        # transaction unwinds; the cleanup in main() has run either way.
        interrupt = _interrupt_in(exc)
        if interrupt is None:
            raise
        log("interrupted; benchmark database dropped and temporary files removed")
        sys.exit(143 if isinstance(interrupt, Terminated) else 130)
