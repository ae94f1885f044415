"""The personal access token (PAT): mint one through a session login, check one, keep it in labelstudio.env.

Part of scripts/labelstudio.py (`token`); see its docstring for how Label Studio's PATs work.
"""

from __future__ import annotations

import time
import typing
from pathlib import Path

from labelstudio_credentials import Credentials, _read_kv, _write_private, credentials
from labelstudio_process import healthy, read_state
from labelstudio_settings import DEFAULT_DATA_DIR, DEFAULT_ENV_FILE, LS_BIN, TOKEN_CHECK_PATIENCE, LabelStudioError, log


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
