"""The local Label Studio from scripts/labelstudio.py and its personal access token (PAT).

A PAT is a JWT refresh token: it is exchanged at /api/token/refresh/ for a 5-minute access
token, which authenticates as `Authorization: Bearer <access>` (label_studio_sdk does the same).
"""

import http.server
import threading
import time

import pytest
import requests

from backend.config.settings.env import read_env_file
from tests.labelstudio_server import LabelStudioServer


def _access_token(server: LabelStudioServer) -> str:
    resp = requests.post(f"{server.url}/api/token/refresh/", json={"refresh": server.api_key}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["access"]


def _projects(server: LabelStudioServer, authorization: str | None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization else {}
    return requests.get(f"{server.url}/api/projects/", headers=headers, timeout=10)


# --- no server needed ----------------------------------------------------------------------------

def test_read_env_file_parses_key_value_lines(tmp_path):
    path = tmp_path / "ls.env"
    path.write_text("# comment\n\nLABEL_STUDIO_URL=http://127.0.0.1:8089/\n"
                    "export LABEL_STUDIO_API_KEY='a.b=c'\nNOT A PAIR\n")
    assert read_env_file(path) == {"LABEL_STUDIO_URL": "http://127.0.0.1:8089/", "LABEL_STUDIO_API_KEY": "a.b=c"}
    server = LabelStudioServer.from_env_file(path)
    assert server == LabelStudioServer("http://127.0.0.1:8089", "a.b=c")
    assert "a.b=c" not in repr(server)


def test_missing_env_file_says_how_to_create_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="scripts/labelstudio.py up"):
        LabelStudioServer.from_env_file(tmp_path / "absent.env")


def test_environment_wins_over_env_file(tmp_path):
    environ = {"LABEL_STUDIO_URL": "http://ls.example", "LABEL_STUDIO_API_KEY": "k"}
    assert LabelStudioServer.from_env(environ, tmp_path / "absent.env") == LabelStudioServer("http://ls.example", "k")


# --- against the running server ------------------------------------------------------------------

def test_env_file_holds_the_running_server(labelstudio_server, labelstudio_script):
    assert LabelStudioServer.from_env_file(labelstudio_script.DEFAULT_ENV_FILE) == labelstudio_server
    resp = requests.get(f"{labelstudio_server.url}/api/version/", timeout=10)
    assert resp.json()["release"] == labelstudio_script.LABEL_STUDIO_VERSION


def test_token_authenticates_against_projects(labelstudio_server):
    resp = _projects(labelstudio_server, f"Bearer {_access_token(labelstudio_server)}")
    assert resp.status_code == 200, resp.text
    assert isinstance(resp.json()["results"], list)


@pytest.mark.parametrize("authorization", [
    None,
    "Bearer not-a-token",
    "Token not-a-token",
    "Bearer {tampered_access}",
    "Bearer {pat}",  # a PAT is a refresh token: it must be exchanged first
])
def test_wrong_token_is_rejected_with_401(labelstudio_server, authorization):
    if authorization:
        access = _access_token(labelstudio_server)
        authorization = authorization.format(tampered_access=access[:-6] + ("A" * 6 if access[-1] != "A" else "B" * 6),
                                             pat=labelstudio_server.api_key)
    assert _projects(labelstudio_server, authorization).status_code == 401


def test_wrong_refresh_token_is_rejected_with_401(labelstudio_server):
    pat = labelstudio_server.api_key
    forged = pat[:-6] + ("A" * 6 if pat[-1] != "A" else "B" * 6)
    resp = requests.post(f"{labelstudio_server.url}/api/token/refresh/", json={"refresh": forged}, timeout=10)
    assert resp.status_code == 401


def test_label_studio_sdk_accepts_the_token(labelstudio_server):
    sdk = pytest.importorskip("label_studio_sdk.client")
    client = sdk.LabelStudio(base_url=labelstudio_server.url, api_key=labelstudio_server.api_key)
    assert client.users.whoami().email
    assert isinstance(list(client.projects.list()), list)


def test_up_again_is_a_fast_no_op(labelstudio_server, labelstudio_script):
    ls = labelstudio_script
    started = time.monotonic()
    assert ls.up(ls.DEFAULT_PORT, ls.DEFAULT_DATA_DIR, ls.DEFAULT_ENV_FILE) == (
        labelstudio_server.url, labelstudio_server.api_key)
    assert time.monotonic() - started < 15


# --- token checks against a server that answers badly ---------------------------------------------

class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers /api/token/refresh/ with the class's `status` (and a fake access token on 200)."""
    status = 503
    calls = 0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        type(self).calls += 1
        body = b'{"access": "a"}' if self.status == 200 else b'{"detail": "nope"}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def answering(request):
    handler = type("Handler", (_Answers,), {"status": request.param, "calls": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


@pytest.mark.parametrize("answering", [503, 500], indirect=True)
def test_an_unclear_answer_is_retried_and_never_taken_for_an_invalid_token(answering, labelstudio_script):
    # A server busy right after a restart must not make `up` revoke the token every client holds.
    url, handler = answering
    with pytest.raises(labelstudio_script.LabelStudioError, match=r"could not check the token .* answered 5\d\d"):
        labelstudio_script.verify_token(url, "some-pat", patience=2.5)
    assert handler.calls >= 2


@pytest.mark.parametrize("answering", [401], indirect=True)
def test_a_rejected_refresh_means_the_token_is_invalid(answering, labelstudio_script):
    url, handler = answering
    assert labelstudio_script.verify_token(url, "some-pat", patience=30) is False
    assert handler.calls == 1
