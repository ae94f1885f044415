"""Run a local Label Studio for Flawmap development and tests.

    .venv/bin/python scripts/labelstudio.py up       # install + start + token (idempotent)
    .venv/bin/python scripts/labelstudio.py install  # .venv-labelstudio with label-studio==1.23.2
    .venv/bin/python scripts/labelstudio.py start [--port 8089] [--data-dir var/labelstudio]
    .venv/bin/python scripts/labelstudio.py token [--rotate]   # writes var/labelstudio.env
    .venv/bin/python scripts/labelstudio.py status
    .venv/bin/python scripts/labelstudio.py stop

Label Studio pins its own Django and friends, so it lives in its own virtualenv
(`.venv-labelstudio`) and never touches the project's `.venv`. The server is for local
development and tests only: it listens on 127.0.0.1, uses SQLite under the data dir and runs
with `SSRF_PROTECTION_ENABLED=false` so that it may call webhooks on loopback.

Files under the data dir (default labelstudio/ in FLAWMAP_VAR_DIR, itself var/ by default):
    label_studio.sqlite3, media/, ...   Label Studio's own data (its SECRET_KEY signs the tokens)
    credentials.env   admin login (LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD), mode 0600
    server.json       pid, port and URL of the running server
    server.log        the server's stdout/stderr

Authentication (Label Studio >= 1.18): legacy `Token` keys are disabled per organization, so
`token` logs in through the session form and mints a personal access token (PAT) with
POST /api/token/. A PAT is a long-lived JWT *refresh* token: clients exchange it at
POST /api/token/refresh/ {"refresh": PAT} -> {"access": ...} and send
`Authorization: Bearer <access>`; this is what `label_studio_sdk.LabelStudio(api_key=PAT)` does.
The PAT and the server URL go to labelstudio.env beside the data dir as LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY.

Defaults can be changed with FLAWMAP_LABELSTUDIO_PORT, FLAWMAP_LABELSTUDIO_DATA_DIR and
FLAWMAP_LABELSTUDIO_ENV_FILE; the admin login with LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD
(only used when the data dir's user is first created). Functions here are importable (the
pytest fixture in tests/labelstudio_server.py calls `up`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import typing
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABEL_STUDIO_VERSION = "1.23.2"
REQUIREMENT = f"label-studio=={LABEL_STUDIO_VERSION}"
VENV = ROOT / ".venv-labelstudio"
VENV_PY = VENV / "bin" / "python"
LS_BIN = VENV / "bin" / "label-studio"
STAMP = VENV / ".flawmap-installed"

HOST = "127.0.0.1"
DEFAULT_PORT = int(os.environ.get("FLAWMAP_LABELSTUDIO_PORT") or 8089)
# Flawmap's runtime folder (FLAWMAP_VAR_DIR, default var/), like the Django settings'.
VAR_DIR = Path(os.environ.get("FLAWMAP_VAR_DIR") or ROOT / "var")
DEFAULT_DATA_DIR = Path(os.environ.get("FLAWMAP_LABELSTUDIO_DATA_DIR") or VAR_DIR / "labelstudio")
DEFAULT_ENV_FILE = Path(os.environ.get("FLAWMAP_LABELSTUDIO_ENV_FILE") or VAR_DIR / "labelstudio.env")
DEFAULT_USERNAME = "admin@flawmap.local"
START_TIMEOUT = 180.0
TOKEN_CHECK_PATIENCE = 60.0  # seconds of unclear answers before giving up on a token check

# Only these variables of the caller's environment reach the server: Label Studio falls back to
# bare names such as HOST, PORT, USERNAME, DEBUG and DJANGO_SETTINGS_MODULE (set by pytest-django),
# which must not leak in from the Flawmap side. LABEL_STUDIO_* variables pass through, so any
# other Label Studio setting can still be given.
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
                "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_CLIENT_ONLY = ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")


class LabelStudioError(RuntimeError):
    """A step failed; the message says what to do."""


class InstallError(LabelStudioError):
    """`pip install label-studio` failed (typically: no package index reachable)."""


def log(msg: str) -> None:
    print(f"[labelstudio] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------- install

def installed_version() -> str | None:
    """The version the stamp file vouches for, or None when the venv is missing or stale."""
    if not (STAMP.is_file() and LS_BIN.exists() and VENV_PY.exists()):
        return None
    stamped = STAMP.read_text().strip()
    return stamped.split("==", 1)[1] if stamped.startswith("label-studio==") else None


def install(force: bool = False, python: str | None = None) -> None:
    """Create .venv-labelstudio and install label-studio into it; a no-op when already done."""
    if not force and installed_version() == LABEL_STUDIO_VERSION:
        log(f"{REQUIREMENT} already installed in {VENV.relative_to(ROOT)}")
        return
    python = python or os.environ.get("FLAWMAP_LABELSTUDIO_PYTHON") or "python3"
    started = time.monotonic()
    if not VENV_PY.exists():
        log(f"creating {VENV.relative_to(ROOT)} with {python}")
        _run([python, "-m", "venv", str(VENV)], InstallError)
    STAMP.unlink(missing_ok=True)
    log(f"pip install {REQUIREMENT} (takes a minute or two)")
    pip = [str(VENV_PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run(pip + [REQUIREMENT], InstallError)
    if force:  # repair label-studio's own files, keeping its dependencies
        _run(pip + ["--force-reinstall", "--no-deps", REQUIREMENT], InstallError)
    got = _run([str(VENV_PY), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
               InstallError).strip()
    if got != LABEL_STUDIO_VERSION or not LS_BIN.exists():
        raise InstallError(f"expected label-studio {LABEL_STUDIO_VERSION} in {VENV}, found {got!r}")
    STAMP.write_text(REQUIREMENT + "\n")
    log(f"installed {REQUIREMENT} in {time.monotonic() - started:.0f} s")


def _run(cmd: list[str], error: type[LabelStudioError]) -> str:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stdout.splitlines() if "is ignored: it is neither a file" not in ln]
        tail = "\n".join(lines[-30:])
        raise error(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}:\n{tail}")
    return proc.stdout


# ------------------------------------------------------------------------------------ credentials

@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def _read_kv(path: Path) -> dict[str, str]:
    out = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                out[key.strip()] = value.strip()
    return out


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def credentials(data_dir: Path) -> Credentials:
    """Admin login: LABEL_STUDIO_USERNAME/PASSWORD from the environment, else the data dir's
    credentials.env, else admin@flawmap.local with a generated password (then saved there)."""
    path = data_dir / "credentials.env"
    saved = _read_kv(path)
    username = os.environ.get("LABEL_STUDIO_USERNAME") or saved.get("LABEL_STUDIO_USERNAME") or DEFAULT_USERNAME
    password = (os.environ.get("LABEL_STUDIO_PASSWORD") or saved.get("LABEL_STUDIO_PASSWORD")
                or secrets.token_urlsafe(18))
    # Label Studio lower-cases the e-mail at login.
    creds = Credentials(username.strip().lower(), password)
    if not saved:
        _write_private(path, f"LABEL_STUDIO_USERNAME={creds.username}\nLABEL_STUDIO_PASSWORD={creds.password}\n")
    return creds


# ---------------------------------------------------------------------------------------- server

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
        raise LabelStudioError(f"{REQUIREMENT} is not installed; run `{Path(__file__).name} install` first")

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


# ----------------------------------------------------------------------------------------- token

class TokenCheck(typing.NamedTuple):
    valid: bool | None  # None: the server did not give a clear answer (still warming up, busy, 5xx)
    reason: str


def check_token(url: str, api_key: str, timeout: float = 10.0) -> TokenCheck:
    """One attempt: refresh the PAT and list /api/projects/ with the access token."""
    import requests

    try:
        resp = requests.post(f"{url}/api/token/refresh/", json={"refresh": api_key}, timeout=timeout)
        if resp.status_code in (400, 401, 403):
            return TokenCheck(False, f"POST /api/token/refresh/ answered {resp.status_code}: {resp.text[:200]}")
        if resp.status_code != 200:
            return TokenCheck(None, f"POST /api/token/refresh/ answered {resp.status_code}: {resp.text[:200]}")
        access = resp.json()["access"]
        resp = requests.get(f"{url}/api/projects/", headers={"Authorization": f"Bearer {access}"}, timeout=timeout)
    except (requests.RequestException, ValueError, KeyError) as exc:
        return TokenCheck(None, f"{type(exc).__name__}: {exc}")
    if resp.status_code == 200:
        return TokenCheck(True, "ok")
    # The PAT did refresh, so it is neither forged, expired nor blacklisted: a refusal here comes from
    # the server's state (organization token setting, feature flags still loading), not the token.
    return TokenCheck(None, f"GET /api/projects/ answered {resp.status_code}: {resp.text[:200]}")


def verify_token(url: str, api_key: str, patience: float = TOKEN_CHECK_PATIENCE) -> bool:
    """True when the PAT refreshes to an access token that may list /api/projects/.

    A server that has just started (or is busy) can fail a request without saying anything about
    the token; only a clear 4xx counts as invalid. Unclear answers are retried for `patience`
    seconds and then raise: revoking a working token because of a hiccup would lock out every
    client that holds it."""
    deadline = time.monotonic() + patience
    while True:
        result = check_token(url, api_key)
        if result.valid is not None:
            if not result.valid:
                log(f"token rejected: {result.reason}")
            return result.valid
        if time.monotonic() >= deadline:
            raise LabelStudioError(f"could not check the token against {url} within {patience:.0f} s: {result.reason}")
        time.sleep(1)


def _login(url: str, creds: Credentials, data_dir: Path):
    import requests

    session = requests.Session()
    login_url = f"{url}/user/login/"
    resp = session.get(login_url, timeout=30)
    resp.raise_for_status()
    csrf = session.cookies.get("csrftoken")
    if not csrf:
        raise LabelStudioError(f"GET {login_url} set no csrftoken cookie")
    resp = session.post(login_url, timeout=30, allow_redirects=False, headers={"Referer": login_url}, data={
        "csrfmiddlewaretoken": csrf, "email": creds.username, "password": creds.password, "persist_session": "on"})
    if resp.status_code != 302 or "sessionid" not in session.cookies:
        raise LabelStudioError(
            f"login as {creds.username} failed (HTTP {resp.status_code}). The data dir's user may have another "
            f"password than LABEL_STUDIO_PASSWORD / credentials.env; reset it with\n"
            f"  LABEL_STUDIO_BASE_DATA_DIR={data_dir} "
            f"{LS_BIN} reset_password --username {creds.username}\nor remove the data dir.")
    # Django rotates the CSRF token at login; unsafe API calls under session auth need the new one.
    session.headers.update({"X-CSRFToken": session.cookies.get("csrftoken", csrf), "Referer": f"{url}/"})
    return session


def create_token(url: str, creds: Credentials, data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Log in with the session form and mint a PAT (POST /api/token/).

    Label Studio allows one live PAT per user (409 otherwise): existing ones are revoked first via
    POST /api/token/blacklist/ with the truncated form GET /api/token/ lists."""
    session = _login(url, creds, data_dir)
    jwt = session.get(f"{url}/api/jwt/settings", timeout=30)
    if jwt.status_code == 200 and not jwt.json().get("api_tokens_enabled", True):
        log("enabling personal access tokens for the organization (POST /api/jwt/settings)")
        session.post(f"{url}/api/jwt/settings", json={**jwt.json(), "api_tokens_enabled": True},
                     timeout=30).raise_for_status()
    resp = session.post(f"{url}/api/token/", timeout=30)
    if resp.status_code == 409:
        listed = session.get(f"{url}/api/token/", timeout=30)
        listed.raise_for_status()
        for item in listed.json():
            session.post(f"{url}/api/token/blacklist/", json={"refresh": item["token"]}, timeout=30)
        log(f"revoked {len(listed.json())} earlier personal access token(s)")
        resp = session.post(f"{url}/api/token/", timeout=30)
    if resp.status_code != 201:
        raise LabelStudioError(f"POST {url}/api/token/ answered HTTP {resp.status_code}: {resp.text[:500]}")
    return resp.json()["token"]


def write_env_file(path: Path, url: str, api_key: str) -> None:
    _write_private(Path(path), f"LABEL_STUDIO_URL={url}\nLABEL_STUDIO_API_KEY={api_key}\n")


def token(url: str | None = None, data_dir: Path = DEFAULT_DATA_DIR, env_file: Path = DEFAULT_ENV_FILE,
          rotate: bool = False) -> tuple[str, str]:
    """Make sure `env_file` holds the server URL and a working PAT; return (url, api_key).

    Keeps the PAT already in the file when it still works (unless `rotate`)."""
    data_dir = Path(data_dir).resolve()
    env_file = Path(env_file)
    if url is None:
        state = read_state(data_dir)
        if not state:
            raise LabelStudioError(f"no Label Studio running for {data_dir}; run `start` first (or pass --url)")
        url = state["url"]
    url = url.rstrip("/")
    if not healthy(url):
        raise LabelStudioError(f"{url}/health/ does not answer; run `start` first")
    current = _read_kv(env_file).get("LABEL_STUDIO_API_KEY")
    if current and not rotate and verify_token(url, current):
        if _read_kv(env_file).get("LABEL_STUDIO_URL") != url:
            write_env_file(env_file, url, current)
        log(f"token in {env_file} is valid")
        return url, current
    api_key = create_token(url, credentials(data_dir), data_dir)
    if not verify_token(url, api_key):
        raise LabelStudioError("the new personal access token does not authenticate against /api/projects/")
    write_env_file(env_file, url, api_key)
    log(f"wrote a new personal access token to {env_file}")
    return url, api_key


# -------------------------------------------------------------------------------------------- up

def is_running(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """Whether the server recorded in the data dir is alive and answers /health/."""
    state = read_state(Path(data_dir).resolve())
    return bool(state) and _pid_is_label_studio(state["pid"]) and healthy(state["url"])


@contextlib.contextmanager
def _exclusive(data_dir: Path):
    """Serialise `up` across processes (e.g. pytest-xdist workers) so only one starts the server
    and mints a token; the others then find both ready."""
    import fcntl

    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".up.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def up(port: int = DEFAULT_PORT, data_dir: Path = DEFAULT_DATA_DIR, env_file: Path = DEFAULT_ENV_FILE,
       timeout: float = START_TIMEOUT) -> tuple[str, str]:
    """install + start + token; returns (url, api_key). Idempotent and safe to call concurrently."""
    with _exclusive(data_dir):
        install()
        url = start(port, data_dir, timeout)
        return token(url, data_dir, env_file)


def status(data_dir: Path = DEFAULT_DATA_DIR, env_file: Path = DEFAULT_ENV_FILE) -> bool:
    data_dir = Path(data_dir).resolve()
    print(f"install:  {REQUIREMENT if installed_version() else 'not installed'} ({VENV})")
    state = read_state(data_dir)
    running = bool(state) and _pid_is_label_studio(state["pid"])
    if not running:
        print(f"server:   not running (data dir {data_dir})")
        return False
    up_ = healthy(state["url"])
    print(f"server:   {'healthy' if up_ else 'NOT answering'} at {state['url']} (pid {state['pid']}, "
          f"log {state['log']})")
    key = _read_kv(Path(env_file)).get("LABEL_STUDIO_API_KEY")
    if key:
        ok = up_ and verify_token(state["url"], key)
        print(f"token:    {env_file} ({'valid' if ok else 'INVALID: run `token`'})")
    else:
        print(f"token:    none ({env_file} missing; run `token`)")
    return up_


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str, port=False, env=False):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help=f"default {DEFAULT_DATA_DIR}")
        if port:
            p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
            p.add_argument("--timeout", type=float, default=START_TIMEOUT, help="seconds to wait for /health/")
        if env:
            p.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE, help=f"default {DEFAULT_ENV_FILE}")
        return p

    p_install = sub.add_parser("install", help=f"create {VENV.name} with {REQUIREMENT}")
    p_install.add_argument("--force", action="store_true",
                           help="reinstall label-studio even when the stamp file is current")
    add("start", "start the server in the background and wait until it is healthy", port=True)
    p_token = add("token", "mint a personal access token and write the env file", env=True)
    p_token.add_argument("--url", help="server URL (default: the one recorded in the data dir)")
    p_token.add_argument("--rotate", action="store_true", help="replace the token even when it still works")
    add("up", "install + start + token", port=True, env=True)
    add("stop", "stop the server")
    add("status", "show install/server/token state (exit 3 when not running)", env=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "install":
            install(force=args.force)
        elif args.command == "start":
            print(start(args.port, args.data_dir, args.timeout))
        elif args.command == "token":
            token(args.url, args.data_dir, args.env_file, rotate=args.rotate)
            print(args.env_file)
        elif args.command == "up":
            url, _ = up(args.port, args.data_dir, args.env_file, args.timeout)
            creds = _read_kv(Path(args.data_dir).resolve() / "credentials.env")
            print(f"Label Studio: {url}  (login {creds.get('LABEL_STUDIO_USERNAME')}, password in "
                  f"{Path(args.data_dir) / 'credentials.env'})")
            print(f"API env file: {args.env_file}  (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY)")
        elif args.command == "stop":
            stop(args.data_dir)
        elif args.command == "status":
            return 0 if status(args.data_dir, args.env_file) else 3
    except LabelStudioError as exc:
        print(f"[labelstudio] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
