"""A multi-host Flawmap rehearsed as separate processes on one machine.

Each "host" is a process group with its own scratch folder (var, exports, model cache, training work dirs): no
folder is shared between them. They meet only through what a real deployment shares — PostgreSQL, Redis and
an S3 API (moto's server, in its own process) — plus the real Label Studio, which talks to the web host (signed
image links) and to the webhook ingress host.

    web      gunicorn, no worker, no torch
    ingress  the webhook front door (uvicorn) and its drain (`manage.py webhook_drain`)
    io       a Celery worker on the default and io queues, with the embedded beat (the job reaper)
    gpu      a Celery worker on the gpu queue (training, pre-labels)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.celery_worker import kill_hard, worker_command

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "flawmap-cluster"
_HOUSEKEEPING = ("jobs.reap_stale", "jobs.requeue_unsent", "jobs-reap-stale", "jobs-requeue-unsent")
S3_KEYS = {"AWS_ACCESS_KEY_ID": "cluster-access", "AWS_SECRET_ACCESS_KEY": "cluster-secret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout: float, what: str, every: float = 0.5):
    """Poll until `predicate()` is truthy and return its value; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Host:
    name: str
    scratch: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """What is this host's own: every local folder Flawmap writes to."""
        return {"FLAWMAP_VAR_DIR": str(self.scratch / "var"), "FLAWMAP_MEDIA_ROOT": str(self.scratch / "media"),
                "FLAWMAP_EXPORT_DIR": str(self.scratch / "exports"),
                "FLAWMAP_MODEL_CACHE_DIR": str(self.scratch / "model-cache"),
                "FLAWMAP_TRAIN_WORK_DIR": str(self.scratch / "work")}

    def start(self, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.scratch / f"{len(self.procs)}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**env, **self.env()}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def kill(self) -> None:
        """SIGKILL every process of the host and what they started: no cleanup, no goodbye."""
        for proc in self.procs:
            kill_hard(proc)

    def logs(self, tail: int = 4000) -> str:
        """The end of each process's output, without the beat's every-few-seconds housekeeping lines."""
        def text(path: Path) -> str:
            lines = path.read_text(errors="replace").splitlines()
            return "\n".join(line for line in lines if not any(word in line for word in _HOUSEKEEPING))[-tail:]

        return "\n".join(f"--- {self.name}/{p.name}\n{text(p)}" for p in sorted(self.scratch.glob("*.log")))


class Cluster:
    """Starts the hosts; `env` is what every host shares (database, broker, S3, Label Studio, secrets)."""

    def __init__(self, root: Path, shared_env: dict[str, str]) -> None:
        self.root = root
        self.hosts: dict[str, Host] = {}
        self.s3_port, self.web_port, self.ingress_port = free_port(), free_port(), free_port()
        self.s3_url = f"http://127.0.0.1:{self.s3_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.ingress_url = f"http://127.0.0.1:{self.ingress_port}"
        self.env = {
            **shared_env, **S3_KEYS,
            "FLAWMAP_STORAGE": "s3", "FLAWMAP_S3_BUCKET": BUCKET, "FLAWMAP_S3_ENDPOINT_URL": self.s3_url,
            "FLAWMAP_S3_REGION": "us-east-1", "FLAWMAP_PUBLIC_URL": self.web_url,
            "LABEL_STUDIO_WEBHOOK_URL": f"{self.ingress_url}/api/labelstudio/webhook/",
            "CELERY_TASK_ALWAYS_EAGER": "false", "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }

    def host(self, name: str) -> Host:
        scratch = self.root / name
        scratch.mkdir(parents=True)
        host = self.hosts[name] = Host(name, scratch)
        return host

    # ---- the shared object storage
    def start_s3(self) -> None:
        self.host("s3").start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)],
                              os.environ.copy())
        wait_for(lambda: _answers(self.s3_url), timeout=60, what="the moto S3 server")
        import boto3

        boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1",
                     aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=BUCKET)

    # ---- Flawmap's hosts
    def start_web(self) -> Host:
        web = self.host("web")
        web.start([sys.executable, "-m", "gunicorn", "backend.config.wsgi:application", "--bind",
                   f"127.0.0.1:{self.web_port}", "--workers", "2", "--timeout", "120", "--log-level", "warning"],
                  self.env)
        wait_for(lambda: _answers(self.web_url + "/api/"), timeout=120, what="gunicorn (web host)")
        return web

    def start_ingress(self) -> Host:
        ingress = self.host("ingress")
        ingress.start([sys.executable, "-m", "uvicorn", "annotator.webhook_ingress:app", "--host", "127.0.0.1",
                       "--port", str(self.ingress_port), "--no-access-log"], self.env)
        ingress.start([sys.executable, "manage.py", "webhook_drain"], self.env)
        wait_for(lambda: _answers(self.ingress_url + "/"), timeout=90, what="the webhook ingress")
        return ingress

    def start_worker(self, name: str, *, queues: str, beat: bool = False) -> Host:
        worker = self.host(name)
        # INFO: a failed smoke run prints these logs (Host.logs), and they are the only trace of what a host did
        worker.start(worker_command(queues=queues, name=name, loglevel="INFO",
                                    beat_schedule=worker.scratch / "beat-schedule" if beat else None), self.env)
        return worker

    def stop(self) -> None:
        for host in reversed(list(self.hosts.values())):
            host.kill()

    def logs(self) -> str:
        return "\n".join(host.logs() for host in self.hosts.values())


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=10)
        return True
    except requests.RequestException:
        return False
