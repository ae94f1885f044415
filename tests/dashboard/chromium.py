"""A real headless Chromium for the dashboard's and the browser's page tests (Debian's `chromium` +
`chromium-driver`): the `browser` fixture, logging in through the form, waiting for a navigation, screenshots.

Chromium and its driver come from scripts/install_system_deps.sh (`make system-deps`, part of `make test`);
without them the tests that use `browser` skip, saying so. Selenium is given both paths and SE_OFFLINE, so it
never tries to download a browser or driver. tests/dashboard/conftest.py makes the fixture available to every
test under tests/dashboard/.
"""

import os
import shutil
from pathlib import Path

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:  # the browser tests skip; the Django client tests beside them still run
    webdriver = None

ARTIFACTS_ROOT = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
CHROMIUM = os.environ.get("FLAWMAP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("FLAWMAP_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    if webdriver is None:
        pytest.skip("selenium is not installed (requirements-dev.txt)")
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: run scripts/install_system_deps.sh "
                    "(Debian packages chromium, chromium-driver)")
    offline = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must not fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1600", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)  # no sandbox: CI runs as root, where Chromium's sandbox refuses to start
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    if offline is None:
        os.environ.pop("SE_OFFLINE", None)
    else:
        os.environ["SE_OFFLINE"] = offline


def log_in(browser, live_server, user, next_url: str) -> None:
    """Through the real login form: the page asks for a login, the form sends the user back to it."""
    browser.delete_all_cookies()
    browser.get(live_server.url + next_url)
    assert browser.current_url == f"{live_server.url}/dashboard/login/?next={next_url}"
    browser.find_element(By.ID, "id_username").send_keys(user.username)
    browser.find_element(By.ID, "id_password").send_keys("pw-" + user.username)
    browser.find_element(By.ID, "login-submit").click()
    arrive(browser, live_server.url + next_url)


def arrive(browser, url: str) -> None:
    """Wait for a navigation a click started: click() may return before the next page is there."""
    try:
        WebDriverWait(browser, 20).until(lambda b: b.current_url == url)
    except Exception:
        main = browser.find_elements(By.TAG_NAME, "main")
        pytest.fail(f"expected {url}, still at {browser.current_url}: {main[0].text if main else browser.title}")


def screenshot(browser, page: str, *, folder: str = "dashboard") -> Path:
    """var/test-artifacts/<folder>/<page>.png, kept for a person to look at."""
    path = ARTIFACTS_ROOT / folder / f"{page}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 0
    return path
