"""Job kinds: each app registers the function that does one kind of job and the queue it runs on.

    @job_handler("train_segmenter", queue="gpu")
    def train_segmenter(ctx: JobContext) -> dict: ...

Queues by workload: `io` talks to Label Studio and builds exports, `gpu` trains and predicts (a worker
with prefetch 1, so a long training never holds a second job hostage), `default` for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

QUEUES = ("default", "io", "gpu")


@dataclass(frozen=True)
class JobKind:
    name: str
    queue: str
    run: Callable
    max_attempts: int
    # Called (with the Job) when the reaper fails an attempt that gets no retry, so a row the job was
    # writing (an export, a dataset version) is not left saying "running" or "building" for ever.
    on_lost: Callable | None = None


_KINDS: dict[str, JobKind] = {}


def job_handler(name: str, *, queue: str = "default", max_attempts: int = 2, on_lost: Callable | None = None):
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def register(fn: Callable) -> Callable:
        _KINDS[name] = JobKind(name=name, queue=queue, run=fn, max_attempts=max_attempts, on_lost=on_lost)
        return fn

    return register


def job_kind(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise KeyError(f"unknown job kind {name!r} (known: {', '.join(sorted(_KINDS))})") from None


def job_kinds() -> list[str]:
    return sorted(_KINDS)
