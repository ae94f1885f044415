"""What a running job's handler sees: its parameters, and ways to report progress and notice a cancel.

A background thread writes the heartbeat (plus the latest progress and log tail) every
FLAWMAP_JOB_HEARTBEAT_SECONDS and reads `cancel_requested`, so a handler in the middle of a long
training loop only needs to call `ctx.progress(...)` / `ctx.check_cancelled()` now and then.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection
from django.utils import timezone

from backend.jobs.lease import job_lease
from backend.jobs.models import Job

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 50

# (job, fraction, message) -> None. Called in the process that runs the job: a command that runs jobs
# in-process (the demo) draws its progress bar from them; a worker's jobs report through the heartbeat.
ProgressListener = Callable[[Job, float, str], None]
_progress_listeners: list[ProgressListener] = []


@contextmanager
def job_progress_listener(listener: ProgressListener) -> Iterator[None]:
    """Call `listener` on every progress report of a job run in this process while the block runs."""
    _progress_listeners.append(listener)
    try:
        yield
    finally:
        _progress_listeners.remove(listener)


class JobCancelled(Exception):
    """Raised inside a handler once a cancel was requested."""


class JobContext:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.params = dict(job.params)
        self._progress = job.progress
        self._message = job.message
        self._log: deque[str] = deque(job.log_tail.splitlines()[-LOG_TAIL_LINES:], maxlen=LOG_TAIL_LINES)
        self._cancel = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ---- for handlers
    def progress(self, fraction: float, message: str = "") -> None:
        with self._lock:
            self._progress = max(0.0, min(1.0, float(fraction)))
            if message:
                self._message = message[:500]
            fraction = self._progress
        for listener in list(_progress_listeners):
            listener(self.job, fraction, message)
        self.check_cancelled()

    def log(self, line: str) -> None:
        with self._lock:
            self._log.append(f"{timezone.now():%H:%M:%S} {line}")

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled(f"job {self.job.pk} was cancelled")

    def publishing(self) -> AbstractContextManager[None]:
        """Wrap the writes that publish the job's results (a model version, an export marked done): they run
        only while this attempt still holds the job, else JobLeaseLost is raised (backend.jobs.lease)."""
        return job_lease(job_id=self.job.pk, token=self.job.attempt_token)

    # ---- for the runner
    def snapshot(self) -> dict:
        with self._lock:
            return {"progress": self._progress, "message": self._message, "log_tail": "\n".join(self._log)}

    def beat(self) -> None:
        """Write heartbeat + progress; pick up a cancel request."""
        updated = Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING).update(
            heartbeat_at=timezone.now(), **self.snapshot()
        )
        if updated == 0 or Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            self._cancel.set()

    def _beat_forever(self) -> None:
        failures = 0
        try:
            while not self._stop.wait(self._next_beat_in(failures)):
                try:
                    self.beat()
                    failures = 0
                except (OperationalError, InterfaceError) as exc:
                    # The database went away (restart, failover, a dropped connection). Dying here would get a
                    # healthy job reaped, so drop the broken connection and try again, backing off.
                    failures += 1
                    logger.warning("job %s: heartbeat failed (%s), retry %d in %.1f s", self.job.pk,
                                   str(exc).strip()[:200], failures, self._next_beat_in(failures))
                    try:
                        connection.close()
                    except DatabaseError:
                        pass  # already broken: Django forgets it and the next query opens a new one
        finally:
            close_old_connections()
            connection.close()

    @staticmethod
    def _next_beat_in(failures: int) -> float:
        """Seconds to the next beat: the interval, doubled per failed beat in a row, capped well below the
        reaper's timeout so the first beat after the database is back lands before the job counts as lost."""
        interval = settings.FLAWMAP_JOB_HEARTBEAT_SECONDS
        cap = max(interval, settings.FLAWMAP_JOB_HEARTBEAT_TIMEOUT_SECONDS / 4)
        return min(interval * 2**failures, cap)

    def __enter__(self) -> "JobContext":
        self._thread = threading.Thread(target=self._beat_forever, name=f"job-{self.job.pk}-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
