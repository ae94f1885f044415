"""The login forms and the reward endpoint answer 429 past their rate (FLAWMAP_THROTTLE_LOGIN / _REWARD)."""

import pytest
from django.core.cache import cache
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rates(settings):
    cache.clear()  # the counts live in the cache: each test starts from none
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"login": "3/min", "reward": "2/min"}}
    yield
    cache.clear()


def _login(client, username, password):
    return client.post("/api-auth/login/", {"username": username, "password": password})


def test_login_attempts_past_the_rate_are_429_even_with_the_right_password(viewer_user):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(3):
        assert _login(client, viewer_user.username, "wrong").status_code == 200  # the form again, with an error
    refused = _login(client, viewer_user.username, "pw-" + viewer_user.username)
    assert refused.status_code == 429 and "Too many login attempts" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    for form in ("/dashboard/login/", "/admin/login/"):  # the other login forms share the count
        assert client.post(form, {"username": viewer_user.username, "password": "x"}).status_code == 429, form
    # A made-up X-Forwarded-For is not a new client (FLAWMAP_NUM_PROXIES=0) ...
    assert Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.1").post(
        "/api-auth/login/", {"username": "x", "password": "y"}).status_code == 429
    # ... another address is, and logs in.
    other = Client(REMOTE_ADDR="203.0.113.8")
    response = _login(other, viewer_user.username, "pw-" + viewer_user.username)
    assert response.status_code == 302 and other.session.get("_auth_user_id") == str(viewer_user.pk)
    for form in ("/api-auth/login/", "/dashboard/login/", "/admin/login/"):  # the forms still show
        assert Client(REMOTE_ADDR="203.0.113.7").get(form).status_code == 200, form


def test_reward_requests_past_the_rate_are_429_per_user(viewer_client, admin_client):
    for _ in range(2):
        assert viewer_client.post("/api/reward", {}, format="multipart").status_code == 400  # counted all the same
    response = viewer_client.post("/api/reward", {}, format="multipart")
    assert response.status_code == 429 and "throttled" in response.json()["detail"]
    assert "Retry-After" in response
    assert admin_client.post("/api/reward", {}, format="multipart").status_code == 400  # another user's own count
