"""End to end in a real headless Chromium: `streamlit run app.py`, click Run, read the headline KPI.

Uses Debian's chromium (`apt-get install chromium`) driven by Playwright; the screenshot lands in
tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import pytest
from browser_util import ARTIFACTS, app_page, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server() as url:
        yield url


def test_run_in_chromium_shows_headline_kpi(app_url):
    from playwright.sync_api import expect

    with app_page(app_url) as page:
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


def test_two_lever_sweep_in_chromium_draws_a_heatmap(app_url):
    """Explore tab: two replications, three points per lever, Compliance x IT staff; a screenshot of the heatmap."""
    from playwright.sync_api import expect

    with app_page(app_url) as page:
        expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled(timeout=45_000)
        _slider_to_start(page, "Replications")
        page.get_by_role("tab", name="Explore").click()
        _choose(page, "Lever", "Compliance staff")
        _choose(page, "Second lever (optional)", "IT staff")
        _slider_to_start(page, "Points per lever")
        expect(page.get_by_text("9 runs x 2 replications")).to_be_visible(timeout=20_000)
        page.get_by_role("button", name="Run sweep").click()
        title = page.get_by_text("± 95% CI half-width").first
        expect(title).to_be_visible(timeout=45_000)
        title.scroll_into_view_if_needed()
        page.mouse.wheel(0, 250)
        page.wait_for_timeout(1000)  # let the heatmap finish drawing for the screenshot
        shot = ARTIFACTS / "app_explore_heatmap.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 20_000
        assert page.locator('[data-testid="stException"]').count() == 0


def _choose(page, label: str, option: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def _slider_to_start(page, label: str) -> None:
    """Keyboard, as a user without a mouse would: focus the slider's thumb, press Home."""
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    thumb.focus()
    thumb.press("Home")
