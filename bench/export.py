"""Export throughput and memory: a `pal4vst` export against `cp -r` and `tar -c` of the same blobs.

    python bench/export.py [--n 2000] [--size 256] [--rounds 2] [--seed bulk|ingest]
                           [--memory-sizes 2000,20000,100000] [--json] [--strict] [--profile]
    (make bench-export runs it under scripts/with_test_services.py)

Setup (not measured): N photo-like PNGs with an elliptical artifact mask each, in a throwaway database
(DATABASE_URL's server, or SQLite): written as rows and blob files in bulk with a ready dataset version
(default), or with --seed ingest ingested through Flawmap's ingest service and snapshotted (its time printed).

Measured, in one run, the order alternating between rounds, best of --rounds:
* cp -r:   `cp -r` of the blob folder (every image and mask file) to a fresh folder;
* folder:  `export_to_path(version, "pal4vst", folder)` (link auto: hard links on this filesystem):
           images/{split}/, labels/{split}/, items.jsonl, manifest.json, DATASHEET.md and SHA256SUMS, published
           atomically. Target: folder/cp >= 1.0;
* tar -c:  `tar -cf` of the blob folder;
* archive: the same export to a .tar (the blob files streamed into it). Target: archive/tar >= 0.5.
Memory: the peak Python heap (tracemalloc) and the peak RSS above the start (VmHWM, reset before each export)
of a folder and an archive export, at N and, with --memory-sizes, at each size given, on versions of tiny
(8x8) items seeded as rows in bulk: flat in N is the target.
Exit status is 0 unless --strict and a ratio misses its target.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from export_seed import photo_pair, seed_ingested, seed_version
from support import blob_storage_at, create_bench_db, django_setup, log, teardown

TARGETS = {"folder_vs_cp": 1.0, "archive_vs_tar": 0.5}


def timed(fn) -> float:
    subprocess.run(["sync"], check=False)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _vm_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_memory(fn) -> dict:
    """Peak Python heap (tracemalloc) and peak resident memory above the start (Linux: VmHWM after a reset)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS
        rss0 = _vm_kib("VmRSS")
    except OSError:
        rss0 = None
    tracemalloc.start()
    try:
        fn()
        _, heap_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    hwm = _vm_kib("VmHWM")
    return {"heap_peak_mib": round(heap_peak / 2**20, 1),
            "rss_peak_above_start_mib": round((hwm - rss0) / 1024, 1) if rss0 is not None and hwm else None}


def memory_of(version, work: Path, label: str) -> dict:
    from datasets.export_run import export_to_path

    out = {}
    for kind, target in (("folder", work / f"mem-{label}"), ("archive", work / f"mem-{label}.tar")):
        out[kind] = peak_memory(lambda t=target: export_to_path(version=version, fmt="pal4vst", out=t))
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink()
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", choices=["bulk", "ingest"], default="bulk",
                        help="bulk: rows and files written directly (default, quick); ingest: through the ingest "
                             "service and a snapshot (minutes; the snapshot time is printed)")
    parser.add_argument("--memory-sizes", default="",
                        help="comma-separated N for the memory curve on tiny items, e.g. 2000,20000,100000")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--profile", action="store_true", help="one more folder export under cProfile")
    args = parser.parse_args(argv)
    memory_sizes = [int(s) for s in args.memory_sizes.split(",") if s.strip()]

    work = Path(tempfile.mkdtemp(prefix="flawmap-bench-export-"))
    django_setup(work)
    old_name, vendor = create_bench_db(work, "export")
    try:
        media = work / "media"
        with blob_storage_at(media):
            from datasets.export_run import export_to_path
            from datasets.services import dataset_create, dataset_version_build, dataset_version_start

            t0 = time.perf_counter()
            snapshot_s = None
            if args.seed == "ingest":
                seed_ingested(args.n, args.size)
                log(f"ingested {args.n} images with masks ({args.size}px) in {time.perf_counter() - t0:.1f} s")
                t0 = time.perf_counter()
                version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="bench")))
                snapshot_s = time.perf_counter() - t0
                log(f"snapshot of {version.counts['items']} items in {snapshot_s:.1f} s")
            else:
                version = seed_version(args.n, name="bench", make=photo_pair(args.size), size=args.size)
                log(f"seeded {args.n} images with masks ({args.size}px) in bulk in {time.perf_counter() - t0:.1f} s")
            blob_bytes = sum(p.stat().st_size for p in media.rglob("*") if p.is_file())
            log(f"blobs {blob_bytes / 2**20:.0f} MiB")
            blobs = str(media / "blobs")
            timed(lambda: subprocess.run(["cp", "-r", blobs, str(work / "warm")], check=True))  # page cache
            shutil.rmtree(work / "warm")

            times = {"cp": [], "folder": [], "tar": [], "archive": []}
            linked = None
            for r in range(args.rounds):
                runs = {
                    "cp": lambda: subprocess.run(["cp", "-r", blobs, str(work / f"cp{r}")], check=True),
                    "folder": lambda: export_to_path(version=version, fmt="pal4vst", out=work / f"folder{r}"),
                    "tar": lambda: subprocess.run(["tar", "-cf", str(work / f"tar{r}.tar"), "-C", str(media), "blobs"],
                                                  check=True),
                    "archive": lambda: export_to_path(version=version, fmt="pal4vst", out=work / f"archive{r}.tar"),
                }
                order = list(runs) if r % 2 == 0 else list(runs)[::-1]
                for name in order:
                    times[name].append(timed(runs[name]))
                    log(f"round {r + 1}: {name:8s} {args.n / times[name][-1]:8.1f} images/s ({times[name][-1]:.2f} s)")
                first = next((work / f"folder{r}" / "images").rglob("*.png"))
                linked = os.stat(first).st_nlink > 1
                for name in ("cp", "folder"):
                    shutil.rmtree(work / f"{name}{r}")
                for name in ("tar", "archive"):
                    (work / f"{name}{r}.tar").unlink()
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.runcall(export_to_path, version=version, fmt="pal4vst", out=work / "profiled")
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)

            memory = {str(args.n): memory_of(version, work, "main")}
            for i, size in enumerate(memory_sizes):
                t0 = time.perf_counter()
                tiny = seed_version(size, name=f"tiny{size}", start=10_000_000 * (i + 1))
                log(f"seeded {size} tiny items in bulk in {time.perf_counter() - t0:.1f} s")
                memory[f"{size} tiny"] = memory_of(tiny, work, f"tiny{size}")
                log(f"memory at {size} tiny items: {memory[f'{size} tiny']}")

        rate = {name: args.n / min(t) for name, t in times.items()}
        ratios = {"folder_vs_cp": rate["folder"] / rate["cp"], "archive_vs_tar": rate["archive"] / rate["tar"]}
        passed = {k: ratios[k] >= TARGETS[k] for k in TARGETS}
        result = {"n": args.n, "size": args.size, "database": vendor, "seed": args.seed,
                  "snapshot_s": snapshot_s and round(snapshot_s, 2),
                  **{f"{k}_images_per_s": round(v, 1) for k, v in rate.items()},
                  "folder_linked": linked, **{k: round(v, 3) for k, v in ratios.items()},
                  "targets": TARGETS, "pass": passed, "memory": memory,
                  "loadavg_1min_end": round(os.getloadavg()[0], 2)}
        if args.json:
            print(json.dumps(result))
        else:
            print(f"export benchmark (pal4vst, best of {args.rounds}, {args.size}x{args.size} PNG + mask, {vendor})")
            print(f"  images (N)            {args.n}   (seeded by {args.seed}"
                  + (f", snapshot {snapshot_s:.1f} s)" if snapshot_s is not None else ")"))
            print(f"  cp -r images/s        {rate['cp']:.1f}")
            print(f"  folder export         {rate['folder']:.1f}   ({'hard links' if linked else 'copies'})")
            print(f"  ratio folder/cp       {ratios['folder_vs_cp']:.3f}  (target >= {TARGETS['folder_vs_cp']}: "
                  f"{'PASS' if passed['folder_vs_cp'] else 'FAIL'})")
            print(f"  tar -c images/s       {rate['tar']:.1f}")
            print(f"  archive export (.tar) {rate['archive']:.1f}")
            print(f"  ratio archive/tar     {ratios['archive_vs_tar']:.3f}  (target >= {TARGETS['archive_vs_tar']}: "
                  f"{'PASS' if passed['archive_vs_tar'] else 'FAIL'})")
            print("  peak memory, MiB (Python heap / RSS above start): folder | archive")
            for label, m in memory.items():
                folder, archive = m["folder"], m["archive"]
                print(f"    N = {label:<12} {folder['heap_peak_mib']:6.1f} / {folder['rss_peak_above_start_mib']}"
                      f" | {archive['heap_peak_mib']:6.1f} / {archive['rss_peak_above_start_mib']}")
            print(f"  load average (1 min) at the end: {result['loadavg_1min_end']} on {os.cpu_count()} CPUs")
        return 1 if args.strict and not all(passed.values()) else 0
    finally:
        teardown(old_name, work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
