"""Acceptance: a 1 GiB upload streamed to a real server process (gunicorn, as in the Dockerfile) is answered 413
within 2 s of its headers, and the worker's memory does not grow by the body: it is never read.

runserver is not used: its ServerHandler.close() reads whatever body is left into memory to keep the connection
reusable, so there a refused 1 GiB upload would still be received in full (a development server only).
"""

import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.celery_worker import worker_env

ROOT = Path(__file__).resolve().parents[2]
GIB = 1 << 30
CHUNK = b"\0" * (256 * 1024)
BOUNDARY = "flawmap-stream-test"

# Committed rows (the server is another process); serialized_rollback puts the migrations' rows back afterwards.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _reset_peak(pid: int) -> None:
    """Start VmHWM afresh (Linux: "5" > clear_refs), so the peak measured is this request's."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _rss(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start) of a process, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) * 1024 for key in ("VmRSS", "VmHWM")}


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    """One gunicorn (one sync worker, as each of the Dockerfile's three) on the test database, for the module."""
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    if connection.vendor != "postgresql":
        pytest.skip("the server process needs the PostgreSQL test database")
    port = _free_port()
    env = {**worker_env(connection.settings_dict["NAME"]), "FLAWMAP_VAR_DIR": str(tmp_path / "var"),
           "FLAWMAP_MEDIA_ROOT": str(tmp_path / "media")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "backend.config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--timeout", "60", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited: {proc.stdout.read().decode()[-3000:]}")
        try:
            requests.get(f"{url}/api/images/", timeout=60)  # the first request imports the URLconf: slow
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("gunicorn did not answer within 90 s")
            time.sleep(0.3)
    workers = _children(proc.pid)
    assert len(workers) == 1, workers
    yield port, workers[0]
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def token():
    user = User.objects.create_user(username="stream-admin", password="pw-stream-admin")
    user.groups.add(Group.objects.get(name="admin"))
    return Token.objects.create(user=user).key


def stream(port: int, path: str, token: str, *, chunked: bool = False) -> tuple[int, float, int, str]:
    """POST a 1 GiB multipart body, sending while no answer has come; returns the status, the seconds from the
    end of the headers to the answer, the bytes of body sent by then, and the answer's text."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            + ("Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {GIB}\r\n") + "\r\n")
    preamble = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"big.png\"\r\n"
                "Content-Type: image/png\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head.encode())
    started = time.monotonic()
    sent, pending = 0, preamble
    try:
        while time.monotonic() - started < 30:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                break
            if writable and sent < GIB:
                if not pending:
                    data = CHUNK[: GIB - sent]
                    pending = f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data
                try:
                    n = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    break
                pending, sent = pending[n:], sent + n
        answered = time.monotonic() - started
        sock.settimeout(5)
        answer = b""
        while True:  # to the end: gunicorn closes the connection after the answer
            try:
                part = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not part:
                break
            answer += part
    finally:
        sock.close()
    text = answer.decode("latin-1")
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else 0
    return status, answered, sent, text


@pytest.mark.parametrize("path", ["/api/images/", "/api/reward"])
def test_a_streamed_gib_is_refused_with_413_within_2_s_and_never_read(server, token, path):
    port, worker = server
    assert requests.get(f"http://127.0.0.1:{port}/api/images/", headers={"Authorization": f"Token {token}"},
                        timeout=10).status_code == 200  # the server works and the token is good
    _reset_peak(worker)
    before = _rss(worker)
    status, seconds, sent, text = stream(port, path, token)
    after = _rss(worker)
    print(f"{path}: {status} after {seconds * 1000:.0f} ms, {sent / 2**20:.1f} MiB sent by then; worker RSS "
          f"{before['VmRSS'] / 2**20:.1f} -> {after['VmRSS'] / 2**20:.1f} MiB, peak {after['VmHWM'] / 2**20:.1f} MiB")
    assert status == 413, text
    assert "bytes" in text and ("FLAWMAP_MAX_UPLOAD_BYTES" in text or "REWARD_MAX_BYTES" in text)
    assert seconds < 2.0
    assert after["VmHWM"] - before["VmRSS"] < 50 * 2**20  # the peak, not only what is left
    os.kill(worker, 0)  # the same worker, still there (raises if it died)


@pytest.mark.parametrize("path", ["/api/images/", "/api/reward"])
def test_a_chunked_gib_without_content_length_is_refused_unread(server, token, path):
    port, worker = server
    _reset_peak(worker)
    before = _rss(worker)
    status, seconds, sent, text = stream(port, path, token, chunked=True)
    after = _rss(worker)
    print(f"{path} (chunked): {status} after {seconds * 1000:.0f} ms, {sent / 2**20:.1f} MiB sent; worker peak "
          f"{(after['VmHWM'] - before['VmRSS']) / 2**20:.1f} MiB over its RSS before")
    assert status == 411 and "Content-Length" in text, text
    assert seconds < 2.0
    assert after["VmHWM"] - before["VmRSS"] < 50 * 2**20
