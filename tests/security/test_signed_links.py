"""Signed image links live a day (FLAWMAP_SIGNED_URL_MAX_AGE) and Label Studio tasks keep working: push signs
fresh links (also for tasks it adopts) and reconcile re-signs links past half their lifetime, on the real
Label Studio server, with the links fetched from Flawmap's live server."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from django.core import signing

from annotator.client import ls_client
from annotator.models import CampaignTask
from annotator.services.provision import campaign_create, campaign_provision
from annotator.services.push import campaign_push_images
from annotator.services.reconcile import campaign_reconcile
from annotator.signing import image_signed_url, image_signed_url_is_fresh
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

DAY = 24 * 3600


def _signed_ago(monkeypatch, seconds: float) -> None:
    """Links signed from now on carry a timestamp `seconds` in the past (undone by monkeypatch.undo)."""
    stamp = signing.b62_encode(int(time.time() - seconds))
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: stamp)


def _old_link(monkeypatch, *, image_id: int, seconds: float) -> str:
    with monkeypatch.context() as m:
        _signed_ago(m, seconds)
        return image_signed_url(image_id=image_id)


# ---- which links count as fresh (no servers)


def test_default_lifetime_is_a_day():
    from backend.config.settings.labelstudio import FLAWMAP_SIGNED_URL_MAX_AGE

    assert FLAWMAP_SIGNED_URL_MAX_AGE == DAY


def test_a_link_is_fresh_for_half_its_lifetime_at_this_address_with_this_key(settings, monkeypatch):
    settings.FLAWMAP_SIGNED_URL_MAX_AGE = DAY
    settings.FLAWMAP_PUBLIC_URL = "http://flawmap.test:8000"
    assert image_signed_url_is_fresh(url=image_signed_url(image_id=7), image_id=7)
    assert image_signed_url_is_fresh(url=_old_link(monkeypatch, image_id=7, seconds=DAY / 2 - 60), image_id=7)
    assert not image_signed_url_is_fresh(url=_old_link(monkeypatch, image_id=7, seconds=DAY / 2 + 60), image_id=7)
    assert not image_signed_url_is_fresh(url=image_signed_url(image_id=8), image_id=7)  # another image's link
    moved = image_signed_url(image_id=7).replace("flawmap.test:8000", "old-host:8000")
    assert not image_signed_url_is_fresh(url=moved, image_id=7)
    fresh = image_signed_url(image_id=7)
    settings.SECRET_KEY = "rotated-" + "k" * 60
    assert not image_signed_url_is_fresh(url=fresh, image_id=7)  # signed with the previous key
    for junk in (None, "", "http://flawmap.test:8000/", 7):
        assert not image_signed_url_is_fresh(url=junk, image_id=7)


# ---- push and reconcile against the real Label Studio

W, H = 40, 30


@pytest.fixture
def campaign(labelstudio_server, live_server, settings):
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    settings.FLAWMAP_PUBLIC_URL = live_server.url
    settings.LABEL_STUDIO_WEBHOOK_URL = f"{live_server.url}/api/labelstudio/webhook/"
    settings.FLAWMAP_SIGNED_URL_MAX_AGE = DAY
    campaign = campaign_create(name=f"links-{uuid.uuid4().hex[:8]}", generator=GeneratorFactory())
    campaign_provision(campaign=campaign)
    yield campaign
    ls_client().sdk.projects.delete(id=campaign.ls_project_id)


def _task_links(campaign) -> dict[int, str]:
    return {t.data["flawmap_image_id"]: t.data["image"] for t in ls_client().tasks(project_id=campaign.ls_project_id)}


def _fetch(url: str) -> requests.Response:
    return requests.get(url, timeout=10)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_reconcile_re_signs_old_and_expired_links_and_leaves_fresh_ones(campaign, monkeypatch):
    aging, expired, fresh = (make_image(data=png_bytes(W, H, seed=s), generator=campaign.generator)
                             for s in (1, 2, 3))
    for image, age in ((aging, DAY * 0.6), (expired, DAY + 3600)):
        with monkeypatch.context() as m:
            _signed_ago(m, age)
            campaign_push_images(campaign=campaign, image_ids=[image.pk])
    campaign_push_images(campaign=campaign, image_ids=[fresh.pk])
    before = _task_links(campaign)
    assert _fetch(before[aging.pk]).status_code == 200  # still valid, but past half its lifetime
    assert _fetch(before[expired.pk]).status_code == 403

    report = campaign_reconcile(campaign=campaign)
    assert report.links_resigned == 2
    after = _task_links(campaign)
    assert after[fresh.pk] == before[fresh.pk]
    for image, seed in ((aging, 1), (expired, 2)):
        assert after[image.pk] != before[image.pk]
        assert image_signed_url_is_fresh(url=after[image.pk], image_id=image.pk)
        reply = _fetch(after[image.pk])
        assert reply.status_code == 200 and reply.content == png_bytes(W, H, seed=seed)
    # the task keeps its id (and so its annotations): only the link changed
    assert set(CampaignTask.objects.filter(campaign=campaign).values_list("ls_task_id", flat=True)) == {
        t.id for t in ls_client().tasks(project_id=campaign.ls_project_id)}
    assert campaign_reconcile(campaign=campaign).links_resigned == 0  # not every run: once per half lifetime


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_push_re_signs_the_old_link_of_a_task_it_adopts(campaign, monkeypatch):
    image = make_image(data=png_bytes(W, H, seed=9), generator=campaign.generator)
    old = _old_link(monkeypatch, image_id=image.pk, seconds=DAY * 2)
    # A task Flawmap lost track of (made by an earlier push whose record is gone), with an expired link
    ls_client().tasks_import(project_id=campaign.ls_project_id,
                             tasks=[{"data": {"image": old, "flawmap_image_id": image.pk}}])
    report = campaign_push_images(campaign=campaign, image_ids=[image.pk])
    assert (report.pushed, report.already_there) == (0, 1)
    link = _task_links(campaign)[image.pk]
    assert link != old and _fetch(link).content == png_bytes(W, H, seed=9)
