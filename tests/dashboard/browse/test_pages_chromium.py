"""The image page, a version page and a diff in a real headless Chromium (tests/dashboard/chromium.py): log in
through the form, toggle a pass and see its overlay appear and go, page with the arrow keys, open a split tab,
mark a pass reviewed as a reviewer, read a diff. A screenshot of each page in var/test-artifacts/browse/."""

import pytest
from django.urls import reverse

from tests.dashboard.browse.page_world import seed_page_world
from tests.dashboard.chromium import arrive, log_in, screenshot, webdriver

if webdriver is None:
    pytest.skip("selenium is not installed (requirements-dev.txt)", allow_module_level=True)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

# Transactional: the live server's thread must see the seeded rows; serialized_rollback restores the rows
# migrations seed for the tests that come later.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def world(admin_user, viewer_user):
    return seed_page_world(admin_user)


def _layer(browser, pass_id: int):
    return browser.find_element(By.CSS_SELECTOR, f'#image-stack [data-pass="{pass_id}"]')


def _loaded(browser, selector: str) -> bool:
    """Every <img> the selector names has arrived and decoded (a broken or refused picture has no width)."""
    return browser.execute_script(
        "const imgs = [...document.querySelectorAll(arguments[0])];"
        "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);", selector)


def _wait(browser, condition, what: str):
    try:
        WebDriverWait(browser, 20).until(lambda b: condition())
    except Exception:
        pytest.fail(f"waited for {what} at {browser.current_url}")


def test_image_page_toggles_passes_and_pages_with_the_arrow_keys(browser, live_server, viewer_user, world):
    main, passes = world["images"]["main"], world["passes"]
    url = reverse("browse:image", kwargs={"image_id": main.pk})
    log_in(browser, live_server, viewer_user, url)
    _wait(browser, lambda: _loaded(browser, "#image-stack img"), "the image and the current passes' overlays")
    model, old = _layer(browser, passes["model"].pk), _layer(browser, passes["old"].pk)
    assert model.is_displayed() and not old.is_displayed()
    # The overlay covers the picture exactly (same box on screen), so the mask sits on its pixels.
    base = browser.find_element(By.CSS_SELECTOR, "#image-stack img.base")
    overlay = model.find_element(By.CSS_SELECTOR, "img.overlay")
    assert overlay.rect == base.rect and base.rect["width"] > 300
    box = _layer(browser, passes["new"].pk).find_elements(By.CSS_SELECTOR, ".box")[0]
    assert box.is_displayed() and 0 < box.rect["width"] < base.rect["width"]

    browser.find_element(By.CSS_SELECTOR, f'input[data-toggle="{passes["model"].pk}"]').click()
    assert not model.is_displayed()
    browser.find_element(By.CSS_SELECTOR, f'input[data-toggle="{passes["old"].pk}"]').click()
    assert old.is_displayed()
    _wait(browser, lambda: _loaded(browser, f'#image-stack [data-pass="{passes["old"].pk}"] img.overlay'),
          "the replaced pass's overlay")
    screenshot(browser, "image", folder="browse")

    next_link = browser.find_element(By.ID, "next-image").get_attribute("href")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    arrive(browser, next_link)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    arrive(browser, live_server.url + url)


def test_a_reviewer_marks_a_pass_reviewed_from_the_page(browser, live_server, world):
    main, new = world["images"]["main"], world["passes"]["new"]
    url = reverse("browse:image", kwargs={"image_id": main.pk})
    log_in(browser, live_server, world["users"]["reviewer"], url)
    browser.find_element(By.CSS_SELECTOR, "#mark-reviewed button[type=submit]").click()
    arrive(browser, f"{live_server.url}{url}?reviewed=1")
    assert browser.find_element(By.ID, "reviewed-notice").is_displayed()
    reviewed = type(new).objects.get(previous=new)
    card = browser.find_element(By.CSS_SELECTOR, f'article[data-pass-card="{reviewed.pk}"]')
    assert card.get_attribute("data-status") == "reviewed"
    assert not browser.find_elements(By.ID, "mark-reviewed")  # nothing left to review
    screenshot(browser, "image-reviewed", folder="browse")


def test_version_page_tabs_and_a_diff(browser, live_server, viewer_user, world):
    v1, v2 = world["v1"], world["v2"]
    url = reverse("browse:version", kwargs={"dataset_id": v1.dataset_id, "number": v2.number})
    log_in(browser, live_server, viewer_user, url)
    cards = browser.find_elements(By.CSS_SELECTOR, "#version-items .card")
    assert len(cards) == v2.items.count()
    _wait(browser, lambda: _loaded(browser, "#version-items img"), "the items' pictures and overlays")
    screenshot(browser, "version", folder="browse")
    split = next(s for s in ("train", "val", "test") if v2.items.filter(split=s).exists())
    browser.find_element(By.CSS_SELECTOR, f'#split-tabs a[data-split-tab="{split}"]').click()
    arrive(browser, f"{live_server.url}{url}?split={split}")
    shown = browser.find_elements(By.CSS_SELECTOR, "#version-items .card")
    assert {c.get_attribute("data-split") for c in shown} == {split}
    assert len(shown) == v2.items.filter(split=split).count()
    screenshot(browser, f"version-{split}", folder="browse")

    browser.find_element(By.ID, "diff-parent").click()
    arrive(browser, live_server.url + reverse("browse:diff", kwargs={"dataset_id": v1.dataset_id, "a": 1, "b": 2}))
    for key in ("added", "removed", "relabelled", "moved_split"):
        assert browser.find_element(By.CSS_SELECTOR, f'[data-count="{key}"]').text.endswith(": 1")
    row = browser.find_element(By.CSS_SELECTOR, '#relabelled .diff-row')
    assert row.get_attribute("data-image") == str(world["images"]["relabel"].pk)
    _wait(browser, lambda: _loaded(browser, "#relabelled img.overlay"), "the before and after overlays")
    before, after = (row.find_element(By.CSS_SELECTOR, f'figure[data-side="{side}"] img.overlay')
                     for side in ("before", "after"))
    assert before.is_displayed() and after.is_displayed()
    screenshot(browser, "diff", folder="browse")
