"""The server processes bench/webhook.py starts (web front door, drain, Celery worker): start, wait, stop, clean up."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from support import ROOT, log
from webhook_clients import WEBHOOK_PATH


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server process in its own process group (so its workers / children end with it)."""

    def __init__(self, name: str, argv: list[str], env: dict, logfile: Path):
        self.name, self.logfile = name, logfile
        self._log = open(logfile, "wb")
        self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # stragglers of the group, if any
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()


def process_group(proc: Proc) -> set[int]:
    """Pids in the process's group (gunicorn's master and workers); empty where there is no /proc."""
    pids = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == proc.popen.pid:
                    pids.add(int(entry))
            except OSError:
                pass
    return pids


def purge_jobs_from(pids: set[int]) -> int:
    """Remove the jobs still queued that these (web) processes published; they name a dropped database.

    Celery stamps every message with its sender, origin "gen<pid>@<host>"; only ours are removed.
    """
    from backend.config.celery import app

    host = socket.gethostname()
    origins = {f"gen{pid}@{host}" for pid in pids}
    removed = 0
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        for queue in ("default", "io", "gpu"):
            for raw in client.lrange(queue, 0, -1):
                try:
                    origin = json.loads(raw)["headers"].get("origin")
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if origin in origins:
                    removed += client.lrem(queue, 1, raw)
    return removed


def start_gunicorn(env: dict, port: int, args, work: Path) -> Proc:
    argv = [sys.executable, "-m", "gunicorn", "backend.config.wsgi:application",
            "--workers", str(args.workers), "--threads", str(args.threads), "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning", "--graceful-timeout", "10"]
    return Proc("gunicorn", argv, env, work / "gunicorn.log")


def start_ingress(env: dict, port: int, args, work: Path) -> Proc:
    """The fast front door (annotator/webhook_ingress.py) under uvicorn with uvloop + httptools."""
    argv = [sys.executable, "-m", "uvicorn", "annotator.webhook_ingress:app", "--host", "127.0.0.1",
            "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--workers", str(args.ingress_workers),
            "--log-level", "warning", "--no-access-log", "--backlog", "4096"]
    return Proc("webhook ingress", argv, env, work / "ingress.log")


def _niced(argv: list[str], args) -> list[str]:
    """Conversion is asynchronous by design: on a small machine it should yield the CPU to the acks."""
    return ["nice", "-n", str(args.background_nice), *argv] if args.background_nice else argv


def start_drain(env: dict, args, work: Path) -> Proc:
    argv = _niced([sys.executable, str(ROOT / "manage.py"), "webhook_drain"], args)
    return Proc("webhook drain", argv, env, work / "drain.log")


def start_worker(env: dict, hostname: str, args, work: Path) -> Proc:
    argv = _niced([sys.executable, "-m", "celery", "-A", "backend.config", "worker", "-Q", "default,io,gpu",
                   "--pool", "prefork", "--concurrency", str(args.worker_concurrency), "--without-mingle",
                   "--without-gossip", "--loglevel", "WARNING", "--hostname", hostname], args)
    return Proc("celery worker", argv, env, work / "worker.log")


def wait_http_ready(proc: Proc, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", WEBHOOK_PATH)
            status = conn.getresponse().status
            conn.close()
            if status == 405:  # the endpoint answers (GET is not allowed): the server is up
                return
            raise RuntimeError(f"GET {WEBHOOK_PATH} answered {status}, expected 405:\n{proc.tail()}")
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer within {timeout:.0f} s:\n{proc.tail()}")


def wait_worker_ready(proc: Proc, hostname_pattern: str, timeout: float) -> None:
    from backend.config.celery import app

    hostname = hostname_pattern.replace("%h", socket.gethostname())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"celery worker exited with {proc.popen.returncode}:\n{proc.tail()}")
        if app.control.ping(destination=[hostname], timeout=1.0):
            return
    raise RuntimeError(f"celery worker did not answer a ping within {timeout:.0f} s:\n{proc.tail()}")


def check_broker_is_ours() -> None:
    """Another worker on the same broker would take our jobs and run them against its own database."""
    from backend.config.celery import app

    replies = app.control.ping(timeout=1.5)
    if replies:
        names = ", ".join(sorted(name for reply in replies for name in reply))
        raise RuntimeError(f"other Celery workers already consume from {app.conf.broker_url}: {names}; "
                           "point CELERY_BROKER_URL at an unused Redis database")
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        waiting = {q: client.llen(q) for q in ("default", "io", "gpu")}
    if any(waiting.values()):
        log(f"warning: the broker already holds queued jobs {waiting}; our worker will take them too")


def shut_down(procs: list[Proc], web_pids: set[int]) -> None:
    """Stop the servers, remove the jobs their web processes left queued and this run's webhook stream.

    Reports (does not raise) what fails, so the caller can still drop the database."""
    for proc in procs[1:]:
        web_pids |= process_group(proc)  # gunicorn may have replaced a worker
    for proc in reversed(procs):
        try:
            proc.stop()
        except Exception as exc:  # report, but still drop the database
            log(f"could not stop {proc.name}: {exc}")
    if web_pids:
        try:
            removed = purge_jobs_from(web_pids)
            if removed:
                log(f"removed {removed} job(s) of this run that were still queued on the broker")
        except Exception as exc:
            log(f"could not remove this run's queued jobs from the broker: {exc}")
    if os.environ.get("FLAWMAP_WEBHOOK_STREAM", "").startswith("flawmap:bench-webhook:"):
        try:
            import redis

            redis.Redis.from_url(os.environ["FLAWMAP_WEBHOOK_STREAM_URL"]).delete(os.environ["FLAWMAP_WEBHOOK_STREAM"])
        except Exception as exc:
            log(f"could not delete this run's webhook stream: {exc}")
