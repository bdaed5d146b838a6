"""The answer page in a real headless Chromium: open the link, press "I'm coming"."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.roles import Role
from tests.bot.serving import serving
from tests.bot.web.conftest import rsvps

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not installed: apt-get install chromium chromium-driver "
            "(.ci/run does) to drive the answer page in a real browser"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.parametrize("migrated_engine", ["sqlite"], indirect=True)
def test_a_carer_opens_the_link_and_presses_im_coming(site, sessions, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    with serving(site.app) as base:
        browser.get(base + site.answer_path("going"))

        assert browser.title == "Can you come to the Carers QI Forum? – QI forum"
        assert rsvps(sessions) == []  # opening the page recorded nothing
        coming = browser.find_element(By.XPATH, '//button[normalize-space()="I\'m coming"]')
        # Our style sheet loaded under the page's own policy: the button is styled green.
        assert coming.value_of_css_property("background-color") == "rgba(0, 127, 59, 1)"
        coming.click()
        # The click starts a navigation: wait for the answer's page (a busy machine is slow).
        WebDriverWait(browser, 20).until(
            expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Thank you")
        )

        heading = browser.find_element(By.TAG_NAME, "h1").text
        body = browser.find_element(By.TAG_NAME, "body").text

    assert heading == "Thank you"
    assert "We've noted that you're coming." in body
    assert rsvps(sessions) == [(site.meeting, site.carer, "going", Role.CARER)]
    assert site.answered == [site.meeting]
