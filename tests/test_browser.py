"""End to end in a real headless Chromium: `streamlit run app.py`, click Run, read the headline KPI.

Uses Debian's chromium (`apt-get install chromium`) driven by Playwright; the screenshot lands in
tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import pytest
from browser_util import ARTIFACTS, launch_chromium, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server() as url:
        yield url


def test_run_in_chromium_shows_headline_kpi(app_url):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(app_url, wait_until="domcontentloaded")
            run = page.get_by_role("button", name="Run", exact=True)
            expect(run).to_be_enabled(timeout=45_000)
            # The instant estimate is there before any simulation.
            expect(page.get_by_text("Instant estimate")).to_be_visible(timeout=20_000)
            run.click()
            metric = page.locator('[data-testid="stMetric"]').filter(has_text="Time in system").first
            expect(metric).to_be_visible(timeout=45_000)
            value = metric.locator('[data-testid="stMetricValue"]').inner_text()
            assert value.endswith("min") and float(value.split()[0]) > 0, value
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=20_000)
            page.wait_for_timeout(1000)  # let the charts finish drawing for the screenshot
            shot = ARTIFACTS / "app_after_run.png"
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 20_000
            exceptions = page.locator('[data-testid="stException"]')
            assert exceptions.count() == 0, exceptions.first.inner_text()
        finally:
            browser.close()
