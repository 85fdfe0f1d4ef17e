"""The lab widget laid out in a real JupyterLab at 1024 and 1440 px: nothing inside it may
overflow its box (text cut off, truncated buttons, drawings wider than their place, anything
sticking out of the widget), on every tab, for every course notebook cell that shows the widget
(found by searching the notebooks, see widget_cases.py) and for the widget under each of the
five strategies. A graded report and a strategy comparison are checked too: left-aligned, the
score on one line, no word broken in the middle.

One notebook holds every case (one page load, one kernel); the viewport is resized, not
reloaded. Screenshots: test-artifacts/widget-<case>-<width>.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS, TOKEN, write_notebook
from tests.browser.widget_cases import STRATEGY_CASES, case_cell, notebook_cases

WIDTHS = (1024, 1440)
CASES = notebook_cases() + STRATEGY_CASES
FITS = (Path(__file__).parent / "layout.js").read_text()
READABLE = (Path(__file__).parent / "readable.js").read_text()

REPORT_CELL = """\
from vlab.grading import GradeReport, ScenarioResult
GradeReport("03-serial", [
    ScenarioResult("polling the line-status register", 3, 3, "visible",
                   ["console output is right: 3 / 3"], []),
    ScenarioResult("a handler that writes every byte the guest sends to the data port", 1.5, 4,
                   "visible", ["console output is right: 0 / 2 (line 3 differs: expected "
                               "'hello from the user task (ring 3)', got 'hello from the user')",
                               "halted: 1.5 / 2"],
                   ["#1021 IO_INSTRUCTION @0x00100465 out dx, al OUT dx=0x3f8 size 1"])],
            isolation="bubblewrap (no network, own PID namespace)")"""
COMPARE_CELL = "from vlab import Lab\nLab.compare(['native', 'trap_emulate', 'paravirt'], guest='kernel')"

#: Show the content of every tab of the widget(s) under ``root`` at once (the tab panel hides
#: all but one with Lumino's lm-mod-hidden class), and put them back. The views are CSS boxes
#: that lay out the same whichever tab is open, so one look covers them all; the tab bar and
#: real clicks are tests/browser/test_ui_browser.py's.
ALL_TABS = """(root) => {
  for (const panel of root.querySelectorAll('.widget-tab-contents > .lm-mod-hidden')) {
    panel.classList.remove('lm-mod-hidden');
    panel.classList.add('vlab-test-unhidden');
  }
}"""
ONE_TAB = """(root) => {
  for (const panel of root.querySelectorAll('.vlab-test-unhidden')) {
    panel.classList.add('lm-mod-hidden');
    panel.classList.remove('vlab-test-unhidden');
  }
}"""


def _settle(page) -> None:
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


@pytest.fixture(scope="module")
def page(jupyter, browser):
    cells = [REPORT_CELL, COMPARE_CELL] + [case_cell(c) for c in CASES]
    write_notebook(jupyter["root"] / "layout.ipynb", cells)
    page = browser.new_page(viewport={"width": WIDTHS[0], "height": 6000})
    page.goto(f"{jupyter['base']}/lab/tree/layout.ipynb?reset&token={TOKEN}")
    page.wait_for_selector("text=| Idle", timeout=60_000)
    page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")
    for case in CASES:  # (in order: the last one shown means the others ran)
        page.wait_for_selector(f".{case.css}", state="attached", timeout=90_000)
    yield page
    page.close()


def test_every_widget_notebook_is_a_case():
    """The discovery finds notebook 00's widget (and would find any other notebook's)."""
    assert any(c.name.startswith("00-") for c in CASES)
    assert {c.name for c in STRATEGY_CASES} == {"native", "trap_emulate", "binary_translation",
                                                "vtx", "paravirt"}


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_overflows(page, width):
    page.set_viewport_size({"width": width, "height": 6000})
    _settle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    problems = []
    for case in CASES:
        root = page.locator(f".{case.css}").first
        if root.locator(".vlab-case-failed").count():
            problems.append(f"{case.name}: its notebook code failed:\n{root.inner_text()}")
            continue
        root.evaluate(ALL_TABS)  # every tab's content laid out at once: one check, one picture
        try:
            problems += [f"{case.name} at {width} px: {p}" for p in root.evaluate(FITS)]
            root.screenshot(path=str(ARTIFACTS / f"widget-{case.name}-{width}.png"),
                            animations="disabled", caret="initial", scale="css")
        finally:
            root.evaluate(ONE_TAB)
    for css in (".vlab-grade", ".vlab-compare"):
        out = page.locator(css).first
        found = out.evaluate(FITS) + out.evaluate(READABLE)
        problems += [f"{css} at {width} px: {p}" for p in found]
        out.screenshot(path=str(ARTIFACTS / f"output-{css[1:]}-{width}.png"), scale="css")
    assert not problems, "\n".join(problems)
