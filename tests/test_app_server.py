"""The app as a server: nothing a user types or uploads runs as code, reads server files or slips
past the work cap, and one session's heavy run does not hold up another session's page.

The upload size cap is tested in tests/test_app.py (test_an_oversized_upload_is_refused_in_plain_words,
200,000 bytes in chainsim.studio; Streamlit itself refuses files over 1 MB), and the work cap on a
longer horizon in test_the_work_cap_applies_to_edited_yaml_and_says_how_to_go_bigger.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_util import launch_chromium, streamlit_server
from streamlit.testing.v1 import AppTest

import chainsim
from chainsim import studio

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
BANK = (ROOT / "models" / "retail_bank.yaml").read_text()
RUN_LINE = "run: {horizon: 480, warmup: 0, replications: 20, seed: 7"


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _edit(at: AppTest, text: str) -> AppTest:
    at.text_area(key="yaml_text").input(text).run()
    assert not at.exception, at.exception
    return at


def _errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def test_a_python_tag_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "hacked"
    tagged = BANK.replace("name: Retail bank - account opening", f'name: !!python/object/apply:os.system ["touch {marker}"]')
    with pytest.raises(chainsim.ModelError, match="python/object/apply:os.system"):
        chainsim.model_from_text(tagged)
    at = _edit(_app(), tagged)
    assert "cannot run" in _errors(at) and "python/object/apply:os.system" in _errors(at)
    assert at.button(key="run").disabled  # the page stays on the model before the edit; Run waits
    assert not marker.exists(), "the YAML tag ran a command"


@pytest.mark.parametrize("field, before, after", [
    ("departments.compliance.staff", "staff: 3, sla", 'staff: "__import__(\'os\').system(\'touch MARK\')", sla'),
    ("customers.walk_in.arrivals.rate", "rate: 0.22", 'rate: "eval(\'0.22\')"'),
    ("customers.walk_in.patience.mean", "mean: 60}", 'mean: "__import__(\'os\').system(\'touch MARK\') or 60"}'),
], ids=["staff", "rate", "patience"])
def test_an_expression_in_a_numeric_field_is_refused_not_evaluated(tmp_path, field, before, after):
    marker = tmp_path / "hacked"
    assert before in BANK
    text = BANK.replace(before, after.replace("MARK", str(marker)), 1)
    with pytest.raises(chainsim.ModelError) as caught:
        chainsim.model_from_text(text)
    assert field in str(caught.value)
    at = _edit(_app(), text)
    assert field in _errors(at)
    assert not marker.exists(), "an expression in the model file was evaluated"


def test_the_app_does_not_read_trace_files_from_the_server():
    """`trace: /dev/zero` once read until memory ran out; the app now refuses traces at once."""
    text = BANK.replace("arrivals: {rate: 0.22}", "arrivals: {trace: /dev/zero}", 1)
    started = time.perf_counter()
    at = _edit(_app(), text)
    assert "customers.walk_in.arrivals.trace" in _errors(at)
    assert "does not read trace files" in _errors(at)
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("edit", [
    # 480,000 interruptions a replication from about 106 customers: hours of work at 200 replications
    ("  front_desk:\n", "  front_desk:\n    interruptions: {every: {dist: fixed, value: 0.001}, "
                        "lasts: {dist: fixed, value: 0.0001}}\n"),
    # a 3,000-step journey per customer
    ("    journey:\n", "    journey:\n" + "      - {serve: it, time: {dist: fixed, value: 0.001}}\n" * 3000),
], ids=["tiny-interruption-gaps", "long-journey"])
def test_the_work_cap_counts_jobs_so_an_edit_cannot_slip_past_it(edit):
    """Few customers but millions of jobs: the cap counts 20 jobs as one customer."""
    text = BANK.replace(*edit, 1)
    model = chainsim.model_from_text(text)
    assert studio.customers_per_replication(model) < 200  # by customers alone it would run
    at = _edit(_app(), text)
    assert at.button(key="run").disabled
    assert any("the app starts at most 120,000" in w.value for w in at.warning)


def test_replications_written_in_the_yaml_stop_at_the_slider_maximum():
    at = _edit(_app(), BANK.replace(RUN_LINE, "run: {horizon: 480, warmup: 0, replications: 100000, seed: 7"))
    assert at.sidebar.slider(key="replications").value == 200
    assert not at.button(key="run").disabled  # 106 customers x 200 replications: within the cap


# --- two sessions on one real server ---------------------------------------------------------------

# 528 customers a replication x 200 replications = 105,600: just under the work cap of 120,000. Each
# walk-in's 13 quick extra visits to IT (18.4 jobs a customer, under the 20 the cap counts as one)
# triple the run's length, to about 10 s: page B has that long to render before A's run ends.
HEAVY = BANK.replace(RUN_LINE, "run: {horizon: 2400, warmup: 0, replications: 200, seed: 7").replace(
    "    journey:\n", "    journey:\n" + "      - {serve: it, time: {dist: fixed, value: 0.001}}\n" * 13, 1)
OTHER_PAGE_SECONDS = 30


@pytest.mark.browser
@pytest.mark.slow
def test_a_heavy_run_in_one_session_does_not_block_another_sessions_page():
    from playwright.sync_api import expect, sync_playwright

    heavy = chainsim.model_from_text(HEAVY)
    assert studio.work([heavy], 200) <= studio.WORK_CAP and studio.jobs_per_customer(heavy) > 18
    with streamlit_server() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            a = browser.new_page(viewport={"width": 1440, "height": 900})
            a.goto(url, wait_until="domcontentloaded")
            expect(a.get_by_text("Instant estimate")).to_be_visible(timeout=45_000)
            a.get_by_text("View or edit the YAML").click()
            yaml_box = a.get_by_role("textbox", name="Model file", exact=True)
            yaml_box.fill(HEAVY)
            yaml_box.press("Control+Enter")
            expect(a.get_by_text("about 528 customers per replication")).to_be_visible(timeout=20_000)
            run = a.get_by_role("button", name="Run", exact=True)
            expect(run).to_be_enabled(timeout=20_000)
            run.click()
            expect(a.get_by_text("Simulating").first).to_be_visible(timeout=20_000)

            b = browser.new_page(viewport={"width": 1440, "height": 900})
            started = time.monotonic()
            b.goto(url, wait_until="domcontentloaded")
            expect(b.get_by_role("heading", name="What-if studio")).to_be_visible(timeout=OTHER_PAGE_SECONDS * 1000)
            expect(b.get_by_text("Instant estimate")).to_be_visible(timeout=OTHER_PAGE_SECONDS * 1000)
            expect(b.get_by_text("about 106 customers per replication")).to_be_visible(timeout=10_000)  # its own model
            waited = time.monotonic() - started
            a_metric = a.locator('[data-testid="stMetric"]').filter(has_text="Time in system")
            assert a_metric.count() == 0, "session A finished before B was checked: the run was not heavy enough"
            print(f"page B rendered in {waited:.1f} s while A was simulating")
            assert waited < OTHER_PAGE_SECONDS

            expect(a_metric.first).to_be_visible(timeout=120_000)
            print(f"A's run ended {time.monotonic() - started:.1f} s after page B was opened")
            assert a.locator('[data-testid="stException"]').count() == 0
            assert b.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
