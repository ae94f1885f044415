"""CPU seconds the intake spends: bench/webhook.py's machine-independent throughput figure.

On a shared machine the wall time until everything is stored measures the other tenants as much as the code.
The CPU time the intake's own processes use (ingress, drain, Celery worker and their PostgreSQL backends, read
from /proc) does not: annotations per CPU-second, times the cores, is what the same machine would do alone.
"""

import os

from webhook_servers import Proc, process_group

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime (fields 14, 15 of stat)
    except (OSError, IndexError, ValueError):
        return 0.0


def _database_backends(db_name: str) -> set[int]:
    """PostgreSQL backends serving `db_name` (their process title names it): same machine only."""
    found = set()
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return found
    needle = f" {db_name} ".encode()
    for entry in entries:
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                title = fh.read()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and needle in title:
            found.add(int(entry))
    return found


class IntakeCpu:
    """CPU seconds of the intake's processes between `start()` and `stop()` (processes alive at either)."""

    def __init__(self, procs: list[Proc], db_name: str):
        self.procs, self.db_name = procs, db_name
        self.before: dict[int, float] = {}

    def _now(self) -> dict[int, float]:
        pids = set().union(*(process_group(p) for p in self.procs)) | _database_backends(self.db_name)
        return {pid: _cpu_seconds(pid) for pid in pids}

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> float:
        after = self._now()
        return sum(after[pid] - self.before.get(pid, 0.0) for pid in after)
