"""The gallery's actions: what each role sees and may do, and that each action stores what its API endpoint would."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from backend.images.models import GeneratedImage
from backend.jobs.models import Job
from datasets.models import Dataset
from tests.dashboard.conftest import seed_dashboard_history
from tests.dashboard.html import elements

pytestmark = pytest.mark.django_db

GALLERY = reverse("browse:gallery")
PUSH = reverse("browse:push")
DATASET = reverse("browse:dataset-create")


@pytest.fixture
def history(admin_user):
    return seed_dashboard_history(admin_user)


def test_a_viewer_sees_no_action_and_is_refused_by_the_action_urls(client, viewer_user, history):
    client.force_login(viewer_user)
    page = client.get(GALLERY).content
    assert not elements(page, "form", id="push-form") and not elements(page, "form", id="dataset-form")
    assert not elements(page, "input", name="image")  # no selection boxes either
    image = GeneratedImage.objects.first()
    assert client.post(PUSH, {"campaign": history["campaign"].pk, "image": [image.pk]}).status_code == 403
    assert client.post(DATASET, {"name": "by-a-viewer"}).status_code == 403
    assert not Job.objects.filter(kind="labelstudio_push").exists() and not Dataset.objects.filter(
        name="by-a-viewer").exists()


def test_an_admin_creates_a_dataset_from_the_filter(client, admin_user, history):
    client.force_login(admin_user)
    page = client.get(GALLERY).content
    assert elements(page, "form", id="push-form") and elements(page, "form", id="dataset-form")
    gen_a, _ = history["generators"]
    query = urlencode({"generator": gen_a.pk, "task": "text_to_image", "labelled": "yes", "created_after": "2020-01-01",
                       "sort": "-par"})
    response = client.post(DATASET, {"name": "gen-a-t2i", "filter": query})
    assert response.status_code == 200, response.content.decode()
    dataset = Dataset.objects.get(name="gen-a-t2i")
    assert list(dataset.generators.all()) == [gen_a] and [t.slug for t in dataset.tasks.all()] == ["text_to_image"]
    assert dataset.label_status == "labelled" and dataset.created_after.year == 2020
    assert dataset.created_by == admin_user


def test_a_filter_a_dataset_cannot_hold_is_refused_naming_it(client, admin_user, history):
    client.force_login(admin_user)
    response = client.post(DATASET, {"name": "high-par", "filter": "par_min=0.2&label_source=human"})
    assert response.status_code == 400 and b"par_min" in response.content and b"label_source" in response.content
    assert client.post(DATASET, {"name": "bad", "filter": "generator=999999"}).status_code == 400
    assert client.post(DATASET, {"name": "Not A Slug!", "filter": ""}).status_code == 400
    assert not Dataset.objects.filter(name__in=["high-par", "bad", "Not A Slug!"]).exists()


def test_an_admin_pushes_the_selection_back_for_review(client, admin_user, history):
    client.force_login(admin_user)
    campaign = history["campaign"]
    picked = list(GeneratedImage.objects.filter(par_source="human").values_list("id", flat=True)[:2])
    response = client.post(PUSH, {"campaign": campaign.pk, "image": picked, "review": "1", "filter": ""})
    assert response.status_code == 200, response.content.decode()
    job = Job.objects.get(kind="labelstudio_push")
    assert job.params == {"campaign_id": campaign.pk, "image_ids": picked, "starting": "human"}
    assert job.created_by == admin_user and job.subject == campaign


def test_an_admin_pushes_the_first_n_of_the_filtered_sorted_gallery(client, admin_user, history):
    client.force_login(admin_user)
    campaign = history["campaign"]
    response = client.post(PUSH, {"campaign": campaign.pk, "first": "3", "filter": "sort=-par&label_source=human"})
    assert response.status_code == 200, response.content.decode()
    expected = list(GeneratedImage.objects.filter(par_source="human").order_by("-par").values_list("id", flat=True)[:3])
    assert Job.objects.get(kind="labelstudio_push").params == {"campaign_id": campaign.pk, "image_ids": expected}


@pytest.mark.parametrize("form", [
    {"image": ["1"], "first": "2"},  # both
    {},  # neither
    {"first": "0"},
    {"first": "lots"},
    {"image": ["x"]},
    {"first": "5", "filter": "label_source=robot"},
    {"first": "5", "filter": "created_after=2100-01-01"},  # selects nothing
])
def test_a_bad_push_is_a_400_and_queues_nothing(client, admin_user, history, form):
    client.force_login(admin_user)
    response = client.post(PUSH, {"campaign": history["campaign"].pk, **form})
    assert response.status_code == 400
    assert client.post(PUSH, {"campaign": "999999", "first": "1"}).status_code == 400
    assert not Job.objects.filter(kind="labelstudio_push").exists()


def test_the_push_api_takes_the_same_starting_point(admin_client, history):
    """POST /api/campaigns/<id>/push with `starting`: what the gallery's "send back for review" box sends."""
    campaign = history["campaign"]
    image = GeneratedImage.objects.filter(par_source="human").first()
    url = reverse("campaign-push", args=[campaign.pk])
    assert admin_client.post(url, {"image_ids": [image.pk], "starting": "robot"}, format="json").status_code == 400
    response = admin_client.post(url, {"image_ids": [image.pk], "starting": "human"}, format="json")
    assert response.status_code == 202
    assert Job.objects.get(pk=response.json()["job"]).params["starting"] == "human"
