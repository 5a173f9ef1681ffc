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
        # A share reads as the help text and the model file's comments say it: 8%, not 0.08.
        errors = page.locator('[data-testid="stSlider"]').filter(has_text="Back office error rate").first
        expect(errors.locator('[data-testid="stSliderThumbValue"]')).to_have_text("8%")
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
        # 3 points each, plus the value as modelled: Compliance 1, 3, 4, 7 x IT 1, 2, 3, 6.
        expect(page.get_by_text("16 runs x 2 replications")).to_be_visible(timeout=20_000)
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


def test_three_downloads_in_a_row_all_arrive_and_match_the_cards(app_url, tmp_path):
    """Take away: the scenario file, the CSV and the report clicked one after the other. A download
    used to rerun the page, which replaced the report's file while its click was on the way (it never
    arrived); and the scenario file carried the file's seed, not the sidebar's, so the CLI on it
    gave other numbers than the cards."""
    import io
    import json

    import pandas as pd
    from click.testing import CliRunner
    from playwright.sync_api import expect

    from chainsim import load_model, plots
    from chainsim.cli import main as cli

    with app_page(app_url) as page:
        expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled(timeout=45_000)
        _slider_to_start(page, "Replications")  # 2
        seed = page.get_by_role("spinbutton", name="Seed")
        seed.fill("11")
        seed.press("Enter")
        expect(page.get_by_text("Scenario: same as baseline")).to_be_visible(timeout=20_000)
        it = page.locator('[data-testid="stSlider"]').filter(has_text="IT staff").first.get_by_role("slider")
        it.focus()
        it.press("ArrowRight")  # 2 -> 3
        expect(page.get_by_text("Scenario: IT +1 staff")).to_be_visible(timeout=20_000)
        page.get_by_role("button", name="Run", exact=True).click()
        card = page.locator('[data-testid="stMetric"]').filter(has_text="Time in system").first
        expect(card).to_be_visible(timeout=45_000)
        shown = card.locator('[data-testid="stMetricValue"]').inner_text()
        page.get_by_role("tab", name="Take away").click()
        files = {}
        for label in ("Scenario as a model file (YAML)", "Results (CSV)", "Report for the client (HTML)"):
            with page.expect_download(timeout=20_000) as download:
                page.get_by_role("button", name=label).click()
            files[label] = tmp_path / download.value.suggested_filename
            download.value.save_as(files[label])
        assert page.locator('[data-testid="stException"]').count() == 0

    # Names that tell downloads of several models and settings apart (the model's name, replications, seed)
    assert sorted(path.name for path in files.values()) == [
        "retail_bank_account_opening_2reps_seed11.csv", "retail_bank_account_opening_2reps_seed11_report.html",
        "retail_bank_account_opening_scenario.yaml"]
    scenario = files["Scenario as a model file (YAML)"]
    out = tmp_path / "cli.json"
    result = CliRunner().invoke(cli, ["run", str(scenario), "--json", str(out)])
    assert result.exit_code == 0, result.output
    model = load_model(scenario)
    assert (model.run.seed, model.run.replications, model.departments["it"].staff) == (11, 2, 3)
    cli_mean = json.loads(out.read_text())["kpis"]["external.time_in_system.mean"]["mean"]
    assert plots.format_value(cli_mean, "time", model) == shown
    table = pd.read_csv(io.StringIO(files["Results (CSV)"].read_text()), index_col=0)
    assert table.loc["external.time_in_system.mean", "Scenario: mean"] == pytest.approx(cli_mean)
    assert "IT +1 staff" in files["Report for the client (HTML)"].read_text()


def _choose(page, label: str, option: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def _slider_to_start(page, label: str) -> None:
    """Keyboard, as a user without a mouse would: focus the slider's thumb, press Home."""
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    thumb.focus()
    thumb.press("Home")
