"""When Label Studio does not answer, Flawmap says so (503 with a message), never a 500, and keeps nothing
half-made."""

import socket

import pytest

from annotator.client import LabelStudioUnavailable, ls_client
from annotator.models import Campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreachable_label_studio(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY = f"http://127.0.0.1:{port}", "a.b.c"
    settings.LABEL_STUDIO_TIMEOUT = 2.0
    return settings.LABEL_STUDIO_URL


def test_creating_a_campaign_while_label_studio_is_down_is_a_503_and_leaves_no_campaign(
        admin_client, unreachable_label_studio):
    r = admin_client.post("/api/campaigns/", {"name": "launch"}, format="json")
    assert r.status_code == 503
    assert f"Label Studio at {unreachable_label_studio} did not answer" in r.json()["detail"]
    assert not Campaign.objects.exists()


def test_the_client_turns_network_failures_into_one_error(unreachable_label_studio):
    with pytest.raises(LabelStudioUnavailable, match="did not answer \\(list projects\\)"):
        ls_client().projects()
