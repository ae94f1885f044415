"""The Label Studio server process: its environment, start and stop, health, and the server.json it is recorded in.

Part of scripts/labelstudio.py (`start`, `stop`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from labelstudio_credentials import Credentials, _write_private, credentials
from labelstudio_install import installed_version
from labelstudio_settings import (
    DEFAULT_DATA_DIR,
    DEFAULT_PORT,
    HOST,
    LABEL_STUDIO_VERSION,
    LS_BIN,
    REQUIREMENT,
    ROOT,
    SCRIPT_NAME,
    START_TIMEOUT,
    VENV,
    LabelStudioError,
    log,
)

# Only these variables of the caller's environment reach the server: Label Studio falls back to
# bare names such as HOST, PORT, USERNAME, DEBUG and DJANGO_SETTINGS_MODULE (set by pytest-django),
# which must not leak in from the Flawmap side. LABEL_STUDIO_* variables pass through, so any
# other Label Studio setting can still be given.
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
                "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_CLIENT_ONLY = ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")


def _state_path(data_dir: Path) -> Path:
    return data_dir / "server.json"


def read_state(data_dir: Path) -> dict | None:
    try:
        return json.loads(_state_path(data_dir).read_text())
    except (FileNotFoundError, ValueError):
        return None


def _pid_is_label_studio(pid: int) -> bool:
    """True when `pid` is alive and is a label-studio process (guards against recycled pids)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file
    return b"label-studio" in cmdline or b"label_studio" in cmdline


def url_for(port: int) -> str:
    return f"http://{HOST}:{port}"


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/", timeout=timeout) as resp:
            return resp.status == 200 and json.loads(resp.read()).get("status") == "UP"
    except (OSError, ValueError):
        return False


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) == 0


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def server_env(data_dir: Path, creds: Credentials) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _PASSTHROUGH}
    env.update({k: v for k, v in os.environ.items() if k.startswith("LABEL_STUDIO_") and k not in _CLIENT_ONLY})
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.update({
        "PYTHONUNBUFFERED": "1",
        # Label Studio runs `git describe` in its package dir to report its version, and would find
        # (and publish at /api/version/, and write into its core/version_.py) this repository's commits.
        "GIT_CEILING_DIRECTORIES": str(VENV.parent),
        "DJANGO_DB": "sqlite",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": creds.username,
        "LABEL_STUDIO_PASSWORD": creds.password,
        # Webhooks to Flawmap on loopback would be refused otherwise. Local dev/test only.
        "SSRF_PROTECTION_ENABLED": "false",
        # Tasks may reference files under the repository (/data/local-files/?d=var/media/...).
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", str(ROOT)),
        # Only the admin user; no self sign-up.
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        # PATs only authenticate while this feature flag is on. Label Studio reads its flags from a
        # file through LaunchDarkly's client, which may not have loaded when the first requests of a
        # freshly (re)started, busy server arrive: tokens were then refused and looked revoked.
        # An environment variable wins over the file, so set it here.
        "fflag__feature_develop__prompts__dia_1829_jwt_token_auth": "true",
        # No internet here: no version check, analytics or Sentry.
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
    })
    return env


def start(port: int = DEFAULT_PORT, data_dir: Path = DEFAULT_DATA_DIR, timeout: float = START_TIMEOUT) -> str:
    """Start Label Studio in the background on 127.0.0.1:`port`; return its URL once /health/ answers.

    A no-op when the server recorded in the data dir is already running and healthy."""
    data_dir = Path(data_dir).resolve()
    url = url_for(port)
    state = read_state(data_dir)
    if state and _pid_is_label_studio(state["pid"]):
        if state["port"] != port:
            raise LabelStudioError(
                f"Label Studio for {data_dir} already runs on port {state['port']} (pid {state['pid']}); "
                f"run `stop` first to move it to port {port}")
        if healthy(url):
            log(f"already running at {url} (pid {state['pid']})")
            return url
        log(f"pid {state['pid']} is still starting, waiting for {url}/health/")
        _wait_healthy(url, state["pid"], data_dir, timeout, proc=None)
        return url
    if state:
        _state_path(data_dir).unlink(missing_ok=True)  # stale: the process is gone
    if _port_in_use(port):
        what = "another Label Studio (not started from this data dir)" if healthy(url) else "another program"
        raise LabelStudioError(f"port {port} on {HOST} is taken by {what}; stop it or pass --port")
    if installed_version() != LABEL_STUDIO_VERSION:
        raise LabelStudioError(f"{REQUIREMENT} is not installed; run `{SCRIPT_NAME} install` first")

    data_dir.mkdir(parents=True, exist_ok=True)
    creds = credentials(data_dir)
    log_path = data_dir / "server.log"
    cmd = [str(LS_BIN), "start", "--no-browser", "--internal-host", HOST, "--port", str(port),
           "--data-dir", str(data_dir), "--log-level", "WARNING"]
    started = time.monotonic()
    with open(log_path, "ab") as log_fh:
        log_fh.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        log_fh.flush()
        proc = subprocess.Popen(cmd, env=server_env(data_dir, creds), cwd=data_dir, stdin=subprocess.DEVNULL,
                                stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True)
    _write_private(_state_path(data_dir), json.dumps(
        {"pid": proc.pid, "port": port, "url": url, "log": str(log_path), "started_at": time.time()}) + "\n")
    log(f"starting Label Studio {LABEL_STUDIO_VERSION} at {url} (pid {proc.pid}, log {log_path})")
    _wait_healthy(url, proc.pid, data_dir, timeout, proc=proc)
    log(f"Label Studio is up at {url} after {time.monotonic() - started:.0f} s")
    return url


def _wait_healthy(url: str, pid: int, data_dir: Path, timeout: float, proc: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(url):
            return
        exited = proc.poll() is not None if proc else not _pid_is_label_studio(pid)
        if exited:
            _state_path(data_dir).unlink(missing_ok=True)
            code = f" with exit code {proc.returncode}" if proc else ""
            raise LabelStudioError(f"Label Studio exited{code} before answering {url}/health/. "
                                   f"Last lines of {data_dir / 'server.log'}:\n{_log_tail(data_dir / 'server.log')}")
        time.sleep(1)
    _terminate(pid)
    _state_path(data_dir).unlink(missing_ok=True)
    raise LabelStudioError(f"Label Studio did not answer {url}/health/ within {timeout:.0f} s (stopped it). "
                           f"Last lines of {data_dir / 'server.log'}:\n{_log_tail(data_dir / 'server.log')}")


def _terminate(pid: int, grace: float = 20.0) -> None:
    """SIGTERM the server's process group (it was started as a session leader), then SIGKILL."""
    def send(sig: int) -> None:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(pid, sig)

    send(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _pid_is_label_studio(pid):
        _reap(pid)
        time.sleep(0.2)
    if _pid_is_label_studio(pid):
        send(signal.SIGKILL)
        time.sleep(0.5)
    _reap(pid)


def _wait_port_free(port: int, pid: int, timeout: float = 20.0) -> None:
    """The leader can exit before the rest of its process group lets go of the port; a restart
    right after `stop` would then find the port taken."""
    deadline = time.monotonic() + timeout
    killed = False
    while _port_in_use(port):
        if time.monotonic() > deadline:
            raise LabelStudioError(f"port {port} is still in use after stopping pid {pid}")
        if not killed and time.monotonic() > deadline - timeout / 2:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            killed = True
        time.sleep(0.2)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # only succeeds when the server is our own child
    except ChildProcessError:
        pass


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """Stop the server recorded in the data dir. Returns whether one was running."""
    data_dir = Path(data_dir).resolve()
    state = read_state(data_dir)
    if not state:
        log("not running")
        return False
    running = _pid_is_label_studio(state["pid"])
    if running:
        _terminate(state["pid"])
        _wait_port_free(state["port"], state["pid"])
        log(f"stopped Label Studio (pid {state['pid']}, {state['url']})")
    else:
        log("not running (removed a stale server.json)")
    _state_path(data_dir).unlink(missing_ok=True)
    return running


def is_running(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """Whether the server recorded in the data dir is alive and answers /health/."""
    state = read_state(Path(data_dir).resolve())
    return bool(state) and _pid_is_label_studio(state["pid"]) and healthy(state["url"])
