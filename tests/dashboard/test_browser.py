"""The dashboard in a real headless Chromium (Debian's `chromium` + `chromium-driver`): log in through the form,
open each page, check the drawn charts against the seeded history, and keep a screenshot of every page in
var/test-artifacts/dashboard/<page>.png.

Chromium and its driver come from scripts/install_system_deps.sh (`make system-deps`, part of `make test`);
without them these tests skip, saying so. Selenium is given both paths and SE_OFFLINE, so it never tries to
download a browser or driver (tests/dashboard/chromium.py).
"""

import pytest
from django.urls import reverse

from backend.images.models import SynthesisTask
from tests.dashboard.chromium import arrive, log_in, screenshot, webdriver
from tests.dashboard.conftest import EXPECTED, PAR_BINS, seed_dashboard_history

if webdriver is None:
    pytest.skip("selenium is not installed (requirements-dev.txt)", allow_module_level=True)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

# Transactional: the live server's thread must see the seeded rows. serialized_rollback restores the rows
# migrations seed (roles, synthesis tasks, taxonomy) after the flush, for the tests that come later.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def history(admin_user, viewer_user):
    return seed_dashboard_history(admin_user)


def marks(browser, chart: str, mark: str):
    return browser.find_elements(By.CSS_SELECTOR, f'svg[data-chart="{chart}"] rect.{mark}')


def drawn(elements) -> bool:
    """Every mark is laid out by the browser, and those with a value have a size on screen."""
    return all(e.is_displayed() or e.size["width"] == 0 or e.size["height"] == 0 for e in elements) and any(
        e.size["width"] > 0 and e.size["height"] > 0 for e in elements)


def test_wrong_password_stays_on_the_login_form(browser, live_server, viewer_user):
    browser.delete_all_cookies()
    browser.get(live_server.url + "/dashboard/")
    browser.find_element(By.ID, "id_username").send_keys(viewer_user.username)
    browser.find_element(By.ID, "id_password").send_keys("wrong")
    browser.find_element(By.ID, "login-submit").click()
    error = WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, "p.error"))
    assert "Wrong username or password" in error[0].text and "/dashboard/login/" in browser.current_url
    screenshot(browser, "login")


def test_overview(browser, live_server, viewer_user, history):
    log_in(browser, live_server, viewer_user, "/dashboard/")
    for key in ("images", "labelled", "annotations", "generators"):
        assert browser.find_element(By.CSS_SELECTOR, f'[data-count="{key}"]').text == str(EXPECTED[key])
    bars = marks(browser, "images-per-task", "bar")
    assert len(bars) == SynthesisTask.objects.count() and drawn(bars)
    by_task = {b.get_attribute("data-task"): int(b.get_attribute("data-value")) for b in bars}
    assert by_task["text_to_image"] == 6 and by_task["inpainting"] == 3
    # The longest bar is the largest count: the chart is drawn to scale.
    widest = max(bars, key=lambda b: b.size["width"])
    assert widest.get_attribute("data-task") == "text_to_image"
    assert len(marks(browser, "images-per-generator", "bar")) == 2
    nav = [a.get_attribute("data-nav") for a in browser.find_elements(By.CSS_SELECTOR, "header nav a")]
    assert nav == ["overview", "par", "heatmap", "time", "models", "learning", "jobs", "datasets"]
    screenshot(browser, "overview")


def test_par_histograms(browser, live_server, viewer_user, history):
    log_in(browser, live_server, viewer_user, "/dashboard/par/")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == len(EXPECTED["par_histograms"])  # one histogram per task with human masks
    for task, counts in EXPECTED["par_histograms"].items():
        bins = marks(browser, f"par-{task}", "bin")
        assert [b.get_attribute("data-bin") for b in bins] == PAR_BINS
        assert [int(b.get_attribute("data-count")) for b in bins] == counts
        assert drawn(bins)
        empty = [b for b, n in zip(bins, counts) if n == 0]
        assert all(b.size["height"] == 0 for b in empty)
    screenshot(browser, "par")
    browser.find_element(By.LINK_TEXT, "model").click()
    arrive(browser, live_server.url + "/dashboard/par/?source=model")
    assert [int(b.get_attribute("data-count")) for b in marks(browser, "par-text_to_image", "bin")] == \
        EXPECTED["model_par_histograms"]["text_to_image"]


def test_average_par_heatmap(browser, live_server, viewer_user, history):
    log_in(browser, live_server, viewer_user, "/dashboard/par/heatmap/")
    cells = marks(browser, "average-par", "cell")
    assert len(cells) == 4 and drawn(cells)
    found = {(c.get_attribute("data-row"), c.get_attribute("data-column")): c for c in cells}
    for key, (mean, n) in EXPECTED["average_par"].items():
        assert float(found[key].get_attribute("data-value")) == pytest.approx(mean, abs=1e-6)
        assert int(found[key].get_attribute("data-n")) == n
    assert found[("gen-b", "text_to_image")].get_attribute("data-value") == ""
    screenshot(browser, "heatmap")


def test_labelling_time(browser, live_server, viewer_user, history):
    log_in(browser, live_server, viewer_user, "/dashboard/labelling-time/")
    assert browser.find_element(By.CSS_SELECTOR, '[data-stat="count"]').text == "7"
    assert browser.find_element(By.CSS_SELECTOR, '[data-stat="median"]').text == "40.0 s"
    assert browser.find_element(By.CSS_SELECTOR, '[data-stat="saving"]').text == "25.0 s"
    for group in ("annotator", "generator", "task"):
        bars = marks(browser, f"time-by-{group}", "bar")
        assert drawn(bars)
        assert {b.get_attribute("data-group"): (int(b.get_attribute("data-n")), float(b.get_attribute("data-median")))
                for b in bars} == EXPECTED[f"time_by_{group}"]
    assert len(marks(browser, "time-assisted", "bar")) == 2
    screenshot(browser, "labelling-time")


def test_models(browser, live_server, viewer_user, history):
    log_in(browser, live_server, viewer_user, "/dashboard/models/")
    status = {r.get_attribute("data-model"): r.get_attribute("data-status")
              for r in browser.find_elements(By.CSS_SELECTOR, "#model-versions tr[data-model]")}
    assert status == {"pal@1": "production", "pal@2": "retired"}
    cells = marks(browser, "model-task-iou", "cell")
    assert len(cells) == 2 * 2 and drawn(cells)
    history_rows = browser.find_elements(By.CSS_SELECTOR, "#promotions tr[data-promoted]")
    assert [r.get_attribute("data-promoted") for r in history_rows] == ["pal@1", "pal@2", "pal@1"]
    screenshot(browser, "models")


def test_learning_rounds(browser, live_server, viewer_user, history):
    log_in(browser, live_server, viewer_user, "/dashboard/active-learning/")
    bars = marks(browser, "rounds-picked", "bar")
    assert [b.get_attribute("data-round") for b in bars] == ["1", "2"] and drawn(bars)
    rows = browser.find_elements(By.CSS_SELECTOR, "#rounds tr[data-round]")
    assert [(r.get_attribute("data-round"), r.get_attribute("data-after-model")) for r in rows] == [
        ("2", "pal@2"), ("1", "pal@1")]
    screenshot(browser, "active-learning")


def test_jobs(browser, live_server, viewer_user, history):
    log_in(browser, live_server, viewer_user, "/dashboard/jobs/")
    bars = marks(browser, "jobs-by-status", "bar")
    assert {b.get_attribute("data-status"): int(b.get_attribute("data-value")) for b in bars} == \
        EXPECTED["jobs_by_status"]
    assert drawn(bars)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recent-jobs tr[data-job]")) == 4
    screenshot(browser, "jobs")


def test_datasets_and_a_datasheet(browser, live_server, viewer_user, history):
    log_in(browser, live_server, viewer_user, "/dashboard/datasets/")
    bars = marks(browser, "dataset-version-items", "bar")
    assert [int(b.get_attribute("data-value")) for b in bars] == [EXPECTED["dataset_items"]] and drawn(bars)
    screenshot(browser, "datasets")
    browser.find_element(By.CSS_SELECTOR, "a.datasheet-link").click()
    version = history["dataset_version"]
    arrive(browser, live_server.url + reverse("dashboard:datasheet", args=[version.pk]))
    sheet = browser.find_element(By.CSS_SELECTOR, "article.datasheet")
    assert sheet.find_element(By.TAG_NAME, "h1").text == "Datasheet: unified-test v1"
    assert "Every <b>human</b>-labelled image." in sheet.text  # shown as text, not interpreted
    assert len(sheet.find_elements(By.TAG_NAME, "table")) >= 5
    screenshot(browser, "datasheet")
