"""Run `ml.segmentation.train` in N processes under torchrun from a caller that follows it (a training job).

`train_in_processes` starts `python -m torch.distributed.run --standalone --nproc_per_node N -m
ml.segmentation.train ... --launcher pytorch --progress-lines` in a session of its own, turns rank 0's progress
lines back into `on_progress` calls, and returns the metrics rank 0 wrote. When `on_progress` raises (a cancelled
job) or the caller is interrupted, torchrun is told to stop (SIGTERM: it stops its workers, each in a session of
its own) and anything left is killed. If the caller's process dies, the kernel sends torchrun SIGTERM
(PR_SET_PDEATHSIG, set by this module's `__main__` before it becomes torchrun), so no training outlives its job.

No torch import here: the job module that calls this is imported wherever jobs are registered.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Callable

logger = logging.getLogger(__name__)

PROGRESS_PREFIX = "@flawmap-progress "
REPO_ROOT = Path(__file__).resolve().parents[2]
# torchrun gives its workers 30 s to leave after SIGTERM before it kills them; then we kill what is left.
STOP_GRACE_SECONDS = 40
TAIL_LINES = 40


class TrainingProcessFailed(RuntimeError):
    """torchrun (or one of its processes) exited with an error; the message carries the end of their output."""


def print_progress_line(step: int, total: int, scalars: dict) -> None:
    """`train`'s on_progress in a child process: one JSON line on stdout for the parent to read. One write() of
    the whole line: every rank shares the pipe, and `print` writes the text and its newline apart."""
    sys.stdout.flush()
    line = PROGRESS_PREFIX + json.dumps({"step": step, "total": total, "scalars": scalars}) + "\n"
    os.write(sys.stdout.fileno(), line.encode())


def torchrun_command(*, nproc: int, config: str, data: Path, work_dir: Path, max_iters: int | None = None,
                     init: Path | None = None, device: str = "auto", seed: int = 0, crop: int | None = None,
                     batch_size: int | None = None, workers: int | None = None,
                     from_scratch: bool = False) -> list[str]:
    """The command line of one training in `nproc` processes on this machine (one per GPU)."""
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, not {nproc}")
    # --standalone: a rendezvous on a free local port, so concurrent trainings on one host do not collide.
    command = [sys.executable, "-m", "ml.segmentation.launch", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "ml.segmentation.train", "--launcher", "pytorch", "--progress-lines", "--quiet",
               "--config", str(config), "--data", str(data), "--work-dir", str(work_dir),
               "--device", device, "--seed", str(seed)]
    for flag, value in (("--max-iters", max_iters), ("--init", init), ("--crop", crop),
                        ("--batch-size", batch_size), ("--workers", workers)):
        if value is not None:
            command += [flag, str(value)]
    if from_scratch:
        command.append("--from-scratch")
    return command


def train_in_processes(*, nproc: int, work_dir: Path,
                       on_progress: Callable[[int, int, dict], None] | None = None, **options) -> dict:
    """Train with `nproc` processes (the keyword options of `ml.segmentation.train.train`) and return rank 0's
    metrics; raises TrainingProcessFailed with the processes' error when they fail."""
    work_dir = Path(work_dir)
    command = torchrun_command(nproc=nproc, work_dir=work_dir, **options)
    work_dir.mkdir(parents=True, exist_ok=True)
    metrics = work_dir / "metrics.json"
    metrics.unlink(missing_ok=True)
    logger.info("training in %d processes: %s", nproc, " ".join(command))
    follow_processes(command, on_progress=on_progress)
    if not metrics.is_file():
        raise TrainingProcessFailed(f"torchrun finished but rank 0 wrote no {metrics}")
    return json.loads(metrics.read_text())


def follow_processes(command: list[str], *, on_progress: Callable[[int, int, dict], None] | None = None) -> None:
    """Run `command` (torchrun) in a session of its own until it exits, handing its progress lines to
    `on_progress`; if that raises, or the caller is interrupted, the processes are stopped first."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    errors: list[str] = []  # our CLI's "error: ..." lines; torchrun's own report that follows can be long
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               start_new_session=True)
    try:
        for line in process.stdout:
            line, report = split_progress(line)
            if report is not None and on_progress is not None:
                on_progress(report["step"], report["total"], report["scalars"])
            if line.strip():
                tail.append(line.rstrip())
                if "error: " in line:
                    errors.append(line[line.index("error: "):].rstrip())
                logger.debug("%s", line.rstrip())
        code = process.wait()
    except BaseException:
        stop_training(process)
        raise
    finally:
        process.stdout.close()
    if code != 0:
        raise TrainingProcessFailed(failure_message(code, errors or list(tail)))


def split_progress(line: str) -> tuple[str, dict | None]:
    """Split a progress report off a line of output: (the rest of the line, the report or None). The report is
    looked for anywhere in it, since another process may have left half a line in the pipe just before."""
    at = line.find(PROGRESS_PREFIX)
    if at < 0:
        return line, None
    try:
        report, _ = json.JSONDecoder().raw_decode(line, at + len(PROGRESS_PREFIX))
    except ValueError:
        return line, None
    return line[:at], report


def failure_message(code: int, lines: list[str]) -> str:
    """The processes' `error: ...` lines (each rank prints the same one: shown once), else the end of the output
    (a traceback and torchrun's report)."""
    errors = list(dict.fromkeys(line for line in lines if line.startswith("error: ")))
    shown = errors or lines[-TAIL_LINES:]
    return f"training in several processes failed (torchrun exit code {code}):\n" + "\n".join(shown)


def stop_training(process: subprocess.Popen) -> None:
    """Stop torchrun and its workers: SIGTERM to torchrun's session, then SIGKILL to whatever is left."""
    if process.poll() is not None:
        return
    workers = _children(process.pid)  # torchrun starts each worker in a session of its own
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
        return
    except subprocess.TimeoutExpired:
        logger.warning("torchrun %s did not stop within %s s: killing it and its workers", process.pid,
                       STOP_GRACE_SECONDS)
    for pid in [process.pid, *workers, *_children(process.pid)]:
        _signal_group(pid, signal.SIGKILL)
    process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc; elsewhere none are found and SIGTERM must do)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its closing parenthesis
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields and int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the process that started us dies (Linux; a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


if __name__ == "__main__":
    # `python -m ml.segmentation.launch TORCHRUN_ARGS`: become torchrun, tied to the life of our parent.
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the request took effect
        sys.exit(1)
    os.execv(sys.executable, [sys.executable, "-m", "torch.distributed.run", *sys.argv[1:]])
