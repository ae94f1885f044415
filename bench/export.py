"""Export throughput: a `pal4vst` export of N images with masks against `cp -r` of the same blobs.

    python bench/export.py [--n 5000] [--size 256] [--rounds 2] [--json] [--strict]
    (make bench-export runs it under scripts/with_test_services.py)

Setup (not measured): N photo-like PNGs with an elliptical artifact mask each are ingested through
Flawmap's ingest service into a throwaway database (DATABASE_URL's server, or SQLite), and one dataset
version is snapshotted (its time is printed too).

Measured, alternating, best of --rounds:
* cp -r:  `cp -r` of the blob folder (every image and mask file) to a fresh folder;
* export: `datasets.export_run.export_to_path(version, "pal4vst", folder)`: images/{split}/, labels/{split}/,
          manifest.json, DATASHEET.md and SHA256SUMS, published atomically.
Reported: images/s of each and the ratio export/cp (target >= 0.5). Label Studio's own exporter does
~210 tasks/s for comparison. Exit status is 0 unless --strict and the ratio misses the target.
"""

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from support import blob_storage_at, create_bench_db, django_setup, log, photo_like, teardown

TARGET_RATIO = 0.5


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=4)
    return buf.getvalue()


def ellipse_mask(index: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(index)
    yy, xx = np.mgrid[:size, :size]
    cx, cy = rng.uniform(0.2, 0.8, 2) * size
    rx, ry = rng.uniform(0.03, 0.2, 2) * size
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


def seed(n: int, size: int) -> None:
    """Ingest N images, each with a human mask, through the normal batch ingest."""
    from backend.core.roles import Role
    from backend.core.users import user_get_or_create_with_role
    from backend.images.batch import images_ingest_batch
    from backend.images.models import Generator, SynthesisTask
    from backend.images.services import IngestItem

    generator = Generator.objects.create(name="bench", version="1")
    task = SynthesisTask.objects.get(slug="other")
    annotator = user_get_or_create_with_role(username="bench", role=Role.ANNOTATOR)

    def items():
        for i in range(n):
            yield IngestItem(name=f"img_{i:06d}.png", data=png(photo_like(i, size)), mask_name=f"mask_{i}.png",
                             mask_data=png(ellipse_mask(i, size).astype(np.uint8)))

    report = images_ingest_batch(items=items(), generator=generator, task=task, annotator=annotator)
    if report.ingested != n:
        raise SystemExit(f"seeding stored {report.ingested} of {n} images: {report.rejected[:3]}")


def timed(fn) -> float:
    subprocess.run(["sync"], check=False)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--profile", action="store_true", help="one more export under cProfile; print the top")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="flawmap-bench-export-"))
    django_setup(work)
    old_name, vendor = create_bench_db(work, "export")
    try:
        media = work / "media"
        with blob_storage_at(media):
            from datasets.export_run import export_to_path
            from datasets.services import dataset_create, dataset_version_build, dataset_version_start

            t0 = time.perf_counter()
            seed(args.n, args.size)
            log(f"seeded {args.n} images with masks ({args.size}x{args.size}) in {time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
            version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="bench")))
            snapshot_s = time.perf_counter() - t0
            blob_bytes = sum(p.stat().st_size for p in media.rglob("*") if p.is_file())
            log(f"snapshot of {version.counts['items']} items in {snapshot_s:.1f} s;"
                f" blobs {blob_bytes / 2**20:.0f} MiB")
            timed(lambda: subprocess.run(["cp", "-r", str(media / "blobs"), str(work / "warm")], check=True))

            cp_times, export_times = [], []
            for r in range(args.rounds):
                def cp():
                    subprocess.run(["cp", "-r", str(media / "blobs"), str(work / f"cp{r}")], check=True)

                def export():
                    export_to_path(version=version, fmt="pal4vst", out=work / f"export{r}")

                order = [("cp", cp, cp_times), ("export", export, export_times)]
                for name, fn, times in (order if r % 2 == 0 else order[::-1]):
                    times.append(timed(fn))
                    log(f"round {r + 1}: {name:7s} {args.n / times[-1]:8.1f} images/s ({times[-1]:.2f} s)")
                shutil.rmtree(work / f"cp{r}")
                shutil.rmtree(work / f"export{r}")
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.runcall(export_to_path, version=version, fmt="pal4vst", out=work / "profiled")
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        cp_rate, export_rate = args.n / min(cp_times), args.n / min(export_times)
        ratio = export_rate / cp_rate
        result = {"n": args.n, "size": args.size, "database": vendor, "snapshot_s": round(snapshot_s, 2),
                  "cp_images_per_s": round(cp_rate, 1), "export_images_per_s": round(export_rate, 1),
                  "ratio": round(ratio, 3), "target": TARGET_RATIO, "pass": ratio >= TARGET_RATIO,
                  "label_studio_exporter_tasks_per_s": 210}
        if args.json:
            print(json.dumps(result))
        else:
            print(f"export benchmark (pal4vst, best of {args.rounds}, {args.size}x{args.size} PNG + mask)")
            print(f"  images (N)          {args.n}")
            print(f"  database            {vendor}")
            print(f"  snapshot            {snapshot_s:.1f} s")
            print(f"  cp -r images/s      {cp_rate:.1f}")
            print(f"  export images/s     {export_rate:.1f}   (Label Studio's exporter: ~210 tasks/s)")
            print(f"  ratio export/cp     {ratio:.3f}"
                  f"  (target >= {TARGET_RATIO}: {'PASS' if result['pass'] else 'FAIL'})")
        return 1 if args.strict and not result["pass"] else 0
    finally:
        teardown(old_name, work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
