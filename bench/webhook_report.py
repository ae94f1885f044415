"""bench/webhook.py's figures: one JSON object (--json) or the table it prints, from a burst's measurements."""

import json
import os
import statistics

from webhook_checks import percentile
from webhook_clients import WEBHOOK_PATH

TARGET_P99_MS = 50.0
TARGET_ANNOTATIONS_PER_S = 200.0  # converted and stored, from the first post until the last is stored


def report(args, run: dict, *, measured: int, mean_body: float, background: float | None, conn_max_age: str,
           done: float, pending: int, counts: dict, expected: int, replay_result: dict | None,
           problems: list[str], cpu_s: float | None = None) -> dict:
    """Print the figures of the measured burst `run` (fire_from's result) and return them.

    done, pending: wait_processed's answer after the burst; counts: stored_counts() at the end; expected:
    how many annotation ids were posted (warm-up included)."""
    from django.conf import settings

    answered_at = run["t0"] + run["seconds"]
    all_processed_s = done - run["t0"] if not pending else None
    ok_latency = sorted(1000 * lat for lat, st in zip(run["latency"], run["status"]) if st == 200)
    p50, p90, p99 = (percentile(ok_latency, q) for q in (50, 90, 99))
    latency_max = ok_latency[-1] if ok_latency else float("nan")
    passed = bool(ok_latency) and p99 <= TARGET_P99_MS
    per_s = measured / all_processed_s if all_processed_s else None
    # What the intake's processes would do on the machine's cores alone (bench/webhook_cpu.py): an estimate.
    per_cpu_s = measured / cpu_s if cpu_s else None
    exactly_once = not problems
    figures = {
        "posts": measured,
        "concurrency": args.concurrency,
        "mode": "open" if args.rate else "closed",
        "rate": args.rate,
        "keepalive": args.keepalive,
        "client": args.client,
        "client_procs": args.client_procs,
        "ingress": args.ingress,
        "gunicorn_workers": args.workers,
        "gunicorn_threads": args.threads,
        "celery_concurrency": args.worker_concurrency,
        "background_nice": args.background_nice,
        "drain_quiet_ms": settings.FLAWMAP_WEBHOOK_DRAIN_QUIET_MS if args.ingress == "fast" else None,
        "drain_max_defer_ms": settings.FLAWMAP_WEBHOOK_DRAIN_MAX_DEFER_MS if args.ingress == "fast" else None,
        "conn_max_age": int(conn_max_age),
        "cpus": os.cpu_count(),
        "background_cpu_busy_pct": round(100 * background, 1) if background is not None else None,
        "mean_body_bytes": round(mean_body),
        "acked": len(ok_latency),
        "latency_ms": {"p50": round(p50, 2), "p90": round(p90, 2), "p99": round(p99, 2),
                       "max": round(latency_max, 2), "mean": round(statistics.mean(ok_latency), 2)
                       if ok_latency else None},
        "posts_per_s": round(measured / run["seconds"], 1),
        "target_p99_ms": TARGET_P99_MS,
        "pass": passed,
        "answered_seconds": round(run["seconds"], 3),
        "all_processed_seconds": round(all_processed_s, 3) if all_processed_s is not None else None,
        "processed_after_last_ack_seconds": round(done - answered_at, 3) if not pending else None,
        "annotations_per_s": round(per_s, 1) if per_s else None,
        "target_annotations_per_s": TARGET_ANNOTATIONS_PER_S,
        "throughput_pass": bool(per_s and per_s >= TARGET_ANNOTATIONS_PER_S),
        "intake_cpu_seconds": round(cpu_s, 2) if cpu_s else None,
        "annotations_per_cpu_second": round(per_cpu_s, 1) if per_cpu_s else None,
        "max_send_lag_ms": round(1000 * max(run["send_lag"]), 1) if args.rate else None,
        "stored": counts,
        "expected_annotations": expected,
        "replay": replay_result,
        "exactly_once": exactly_once,
        "problems": problems,
    }
    if args.json:
        print(json.dumps(figures))
        return figures
    mode = f"open loop at {args.rate:g}/s" if args.rate else "closed loop"
    lat = figures["latency_ms"]
    rows = [
        ("posts (measured)", f"{measured} (+{args.warmup} warm-up, +{args.replay} replayed)"),
        ("concurrent clients", f"{args.concurrency} {args.client} clients in {args.client_procs} process(es), {mode}, "
                               f"{'keep-alive' if args.keepalive else 'new connection per post'}"),
        ("server", (f"webhook ingress: uvicorn x {args.ingress_workers} -> Redis stream -> drain "
                    f"(records after {settings.FLAWMAP_WEBHOOK_DRAIN_QUIET_MS} ms quiet, at most "
                    f"{settings.FLAWMAP_WEBHOOK_DRAIN_MAX_DEFER_MS} ms late)"
                    if args.ingress == "fast" else
                    f"gunicorn {args.workers} workers x {args.threads} threads")
         + f", celery prefork x {args.worker_concurrency}, CONN_MAX_AGE={conn_max_age}"
         + (f", drain + worker at nice {args.background_nice}" if args.background_nice else "")),
        ("machine", f"{os.cpu_count()} CPUs" + (f", {100 * background:.0f}% busy with other work "
                                                 "just before the burst" if background is not None else "")),
        ("ack latency ms", f"p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}  "
                           f"max {lat['max']:.1f}"),
        ("target p99 <= 50 ms", "PASS" if passed else "FAIL"),
        ("throughput", f"{figures['posts_per_s']:.1f} posts/s ({run['seconds']:.2f} s)"),
        ("all processed", f"{all_processed_s:.2f} s after the first post "
                          f"({done - answered_at:.2f} s after the last ack)" if not pending
         else f"NO: {pending} pending after {args.timeout:.0f} s"),
        ("annotations/s", (f"{per_s:.0f} end to end (target >= {TARGET_ANNOTATIONS_PER_S:.0f}: "
                                      f"{'PASS' if per_s >= TARGET_ANNOTATIONS_PER_S else 'FAIL'})")
         if per_s else "n/a"),
        ("intake CPU", (f"{cpu_s:.1f} CPU-s for {measured} annotations (ingress, drain, worker, PostgreSQL): "
                        f"{per_cpu_s:.0f} annotations per CPU-second, ~{per_cpu_s * (os.cpu_count() or 1):.0f}/s "
                        f"on {os.cpu_count()} free cores") if per_cpu_s else "n/a"),
        ("stored exactly once", ("PASS" if exactly_once else "FAIL") +
         f" ({counts['synced']} synced / {counts['annotations']} annotations / {counts['masks']} masks"
         f" for {expected} annotation ids"
         + (f"; replay {replay_result['skipped']}/{replay_result['posts']} skipped, nothing new"
            if replay_result and replay_result["ok"] else "") + ")"),
    ]
    if args.rate:
        rows.insert(5, ("max send lag", f"{figures['max_send_lag_ms']:.1f} ms behind schedule"))
    width = max(len(k) for k, _ in rows)
    print(f"webhook benchmark (POST {WEBHOOK_PATH}, mean body {mean_body / 1024:.1f} KiB)")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    for problem in problems:
        print(f"  problem: {problem}")
    return figures
