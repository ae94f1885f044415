"""The gallery in a real headless Chromium (tests/dashboard/chromium.py), against the real Label Studio and a real
Celery worker: log in through the form, filter by generator and PAR range and check the grid against the database,
sort by disagreement and check the order against hand-made masks, page with the arrow keys, tick two images and
send them back for review, then find the tasks in Label Studio starting from the human passes. A screenshot of each
page in var/test-artifacts/browse/."""

import time
import uuid

import numpy as np
import pytest
from django.urls import reverse

from annotator.client import ls_client
from annotator.converter import rle_to_mask
from annotator.models import CampaignTask
from annotator.services.provision import campaign_create_provisioned
from backend.images.models import GeneratedImage, Generator
from tests.dashboard.browse.gallery_seed import DISAGREEMENT_ORDER, H, W, seed_mask_pairs
from tests.dashboard.chromium import log_in, screenshot, webdriver
from tests.dashboard.conftest import seed_dashboard_history

if webdriver is None:
    pytest.skip("selenium is not installed (requirements-dev.txt)", allow_module_level=True)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

# Transactional: the live server's thread and the worker must see the seeded rows (and on-commit receivers run as
# in production); serialized_rollback restores the rows migrations seed for the tests that come later.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]

GALLERY = reverse("browse:gallery")


@pytest.fixture
def world(labelstudio_server, live_server, use_celery_worker, settings, admin_user):
    """The dashboard's history and the mask pairs (seeded after the worker's blob folder is set), and a campaign
    with its Label Studio project (deleted afterwards)."""
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    settings.FLAWMAP_PUBLIC_URL = live_server.url
    settings.LABEL_STUDIO_WEBHOOK_URL = f"{live_server.url}/api/labelstudio/webhook/"
    history = seed_dashboard_history(admin_user)
    pairs = seed_mask_pairs()
    campaign = campaign_create_provisioned(name=f"review-{uuid.uuid4().hex[:8]}")
    yield {"history": history, "pairs": pairs, "campaign": campaign}
    campaign.refresh_from_db()
    if campaign.ls_project_id:
        ls_client().sdk.projects.delete(id=campaign.ls_project_id)


def _wait(browser, condition, what: str, timeout: float = 30):
    try:
        WebDriverWait(browser, timeout).until(lambda b: condition())
    except Exception:
        pytest.fail(f"waited for {what} at {browser.current_url}")


def _grid(browser) -> list[int]:
    return [int(f.get_attribute("data-image")) for f in browser.find_elements(By.CSS_SELECTOR, "#gallery figure")]


def _thumbnails_drawn(browser) -> bool:
    return browser.execute_script(
        "const imgs = [...document.querySelectorAll('#gallery img')];"
        "imgs.forEach(i => i.scrollIntoView());"
        "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);")


def _apply(browser, **fields) -> None:
    form = browser.find_element(By.ID, "filters")
    for name, value in fields.items():
        element = form.find_element(By.NAME, name)
        if element.tag_name == "select":
            select = Select(element)
            if select.is_multiple:
                select.deselect_all()
            for v in value if isinstance(value, list) else [value]:
                select.select_by_value(str(v))
        else:
            element.clear()
            element.send_keys(str(value))
    before = browser.current_url
    browser.find_element(By.ID, "apply-filters").click()
    _wait(browser, lambda: browser.current_url != before and browser.find_elements(By.ID, "page-info"),
          "the filtered gallery")


def test_filter_sort_and_send_back_for_review(browser, live_server, admin_user, world):
    gen_a, _ = world["history"]["generators"]
    pairs = world["pairs"]
    log_in(browser, live_server, admin_user, GALLERY)
    assert sorted(_grid(browser)) == sorted(GeneratedImage.objects.values_list("id", flat=True))

    _apply(browser, generator=[gen_a.pk], par_min="0.01", par_max="0.5")
    expected = (GeneratedImage.objects.filter(generator=gen_a, par__gte=0.01, par__lte=0.5)
                .order_by("-created_at", "-id"))
    assert _grid(browser) == list(expected.values_list("id", flat=True)) and len(expected) == 3
    for figure in browser.find_elements(By.CSS_SELECTOR, "#gallery figure"):
        image = expected.get(pk=int(figure.get_attribute("data-image")))
        assert float(figure.get_attribute("data-par")) == pytest.approx(image.par)
        assert figure.get_attribute("data-source") == image.par_source == "human"
    _wait(browser, lambda: _thumbnails_drawn(browser), "the thumbnails (made on first view)")
    screenshot(browser, "gallery-filtered", folder="browse")

    pairs_generator = Generator.objects.get(name="pairs")
    _apply(browser, generator=[pairs_generator.pk], par_min="", par_max="", sort="disagreement")
    assert _grid(browser) == [pairs[name] for name in DISAGREEMENT_ORDER]
    _wait(browser, lambda: _thumbnails_drawn(browser), "the thumbnails")
    screenshot(browser, "gallery-by-disagreement", folder="browse")

    # The likeliest label errors go back to Label Studio, each task starting from its human pass.
    chosen = [pairs["disjoint"], pairs["half"]]
    for image_id in chosen:
        browser.find_element(By.CSS_SELECTOR, f'#gallery input.pick[value="{image_id}"]').click()
    browser.find_element(By.ID, "push-review").click()
    Select(browser.find_element(By.ID, "push-campaign")).select_by_value(str(world["campaign"].pk))
    browser.find_element(By.ID, "push-submit").click()
    _wait(browser, lambda: browser.find_elements(By.ID, "action-title"), "the push's confirmation")
    assert "2 image(s) queued" in browser.find_element(By.ID, "action-title").text
    screenshot(browser, "push-queued", folder="browse")

    deadline = time.monotonic() + 120
    while CampaignTask.objects.filter(campaign=world["campaign"]).count() < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    tasks = {t.data["flawmap_image_id"]: t
             for t in ls_client().sdk.tasks.list(project=world["campaign"].ls_project_id, fields="all")}
    assert sorted(tasks) == sorted(chosen)
    for image_id in chosen:
        human = GeneratedImage.objects.get(pk=image_id).annotations.get(user__isnull=False)
        (prediction,) = tasks[image_id].predictions
        assert prediction.model_version.startswith(f"human pass {human.pk} ")
        brush = next(r for r in prediction.result if r["type"] == "brushlabels")
        expected_mask = np.zeros(W * H, dtype=bool)
        expected_mask[:100 if image_id == pairs["disjoint"] else 400] = True  # gallery_seed's human masks
        assert np.array_equal(rle_to_mask(brush["value"]["rle"], width=W, height=H), expected_mask.reshape(H, W))
