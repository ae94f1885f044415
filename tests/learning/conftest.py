import uuid

import pytest

from annotator.client import ls_client
from annotator.models import Campaign
from annotator.services.provision import campaign_provision
from tests.factories import GeneratorFactory


@pytest.fixture
def campaign(labelstudio_server, settings):
    """A campaign of a fresh generator with its project in the session's real Label Studio (removed after the
    test). A test module that needs no Label Studio defines its own `campaign`."""
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    campaign = campaign_provision(campaign=Campaign.objects.create(
        name=f"learning-{uuid.uuid4().hex[:6]}", generator=GeneratorFactory()))
    yield campaign
    ls_client().sdk.projects.delete(id=campaign.ls_project_id)
