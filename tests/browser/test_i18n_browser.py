"""The lab's UI in Chinese in a real JupyterLab and Chromium: the widget drawn after
``vlab.set_language("zh")`` shows Chinese labels (buttons, tabs, status, trap log, diagram,
memory), fits its box at 1024 px, switches back to English when a click in the page calls
``vlab.set_language("en")``, and a graded report in Chinese is laid out like the English one.
Screenshots: test-artifacts/ui-zh.png (the widget), ui-zh-all-tabs-1024.png, ui-zh-report.png.

Chinese glyphs come from the system's fonts: Debian's ``fonts-wqy-microhei`` (or
``fonts-noto-cjk``) makes the screenshot readable; the text checks do not depend on it.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.browser.conftest import ARTIFACTS, TOKEN, write_notebook
from tests.browser.test_widget_layout import ALL_TABS, FITS, ONE_TAB, READABLE

CJK = re.compile(r"[\u4e00-\u9fff]")
#: readable.js for Chinese: a line may break between two Chinese characters (or after a
#: full-width mark), so a "word" that must not break is a run of other characters (0x001002b3).
READABLE_ZH = READABLE.replace("/\\S+/g", "/[^\\s\\u3000-\\u303f\\u4e00-\\u9fff\\uff00-\\uffef]+/g")
assert READABLE_ZH != READABLE
ZH_CELLS = [
    "import vlab\nvlab.set_language('zh')\nfrom vlab import Lab\n"
    "lab = Lab('kernel', 'trap_emulate')\nlab.run(max_instructions=60_000)\n"
    "ui = lab.widget()\nui.add_class('vlab-zh')\nui",
    "import ipywidgets as W\nenglish = W.Button(description='English')\n"
    "english.add_class('vlab-to-english')\n"
    "english.on_click(lambda _: vlab.set_language('en'))\nenglish",
    "from vlab.grading import check\nfrom tests.solutions.s01_cli_sti import handle_cli\n"
    "def handle_sti(vcpu, exit):\n    vcpu.skip()  # (forgets the flag)\n"
    "check('01-cli-sti', handle_cli, handle_sti, lang='zh')",
]


def _cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True)
    return bool(out.stdout.strip())


def test_the_lab_ui_in_chinese_in_jupyterlab(jupyter, browser):
    write_notebook(jupyter["root"] / "zh.ipynb", ZH_CELLS)
    page = browser.new_page(viewport={"width": 1024, "height": 2600})  # (all of it in view)
    page.goto(f"{jupyter['base']}/lab/tree/zh.ipynb?reset&token={TOKEN}")
    page.wait_for_selector("text=| Idle", timeout=60_000)
    page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")
    page.wait_for_selector(".vlab-zh .vlab-step", timeout=60_000)
    page.wait_for_selector(".vlab-grade", timeout=90_000)
    ui = page.locator(".vlab-zh").first

    # what a student sees, in Chinese: buttons, tabs, the status line, the trap log
    assert page.inner_text(".vlab-zh .vlab-step").strip() == "单步"
    assert page.inner_text(".vlab-zh .vlab-run").strip() == "运行"
    tabs = page.locator(".vlab-zh .lm-TabBar-tab").all_inner_texts()
    assert [t.strip() for t in tabs][:3] == ["陷入日志", "示意图", "控制台"], tabs
    assert "已停机" in page.inner_text(".vlab-zh .vlab-status")  # (the kernel ran to its end)
    assert "次退出" in page.inner_text(".vlab-zh .vlab-trap-summary")
    assert page.locator(".vlab-zh .vlab-step").is_visible()
    tip = page.get_attribute(".vlab-zh .vlab-step", "title")
    assert tip == "执行一条客户机指令", tip
    cpu = page.inner_text(".vlab-zh .vlab-cpu")
    assert "客户机认为" in cpu and "段选择子" in cpu
    page.click(".vlab-zh li.lm-TabBar-tab:has-text('示意图')")
    assert "监控器" in page.inner_text(".vlab-zh .vlab-diagram")
    page.click(".vlab-zh li.lm-TabBar-tab:has-text('内存')")
    assert "客户机" in page.inner_text(".vlab-zh .vlab-memory")
    page.click(".vlab-zh li.lm-TabBar-tab:has-text('陷入日志')")

    # laid out in its box at 1024 px, every tab
    ui.evaluate(ALL_TABS)
    try:
        problems = ui.evaluate(FITS)
        ARTIFACTS.mkdir(exist_ok=True)
        ui.screenshot(path=str(ARTIFACTS / "ui-zh-all-tabs-1024.png"), scale="css")
    finally:
        ui.evaluate(ONE_TAB)
    report = page.locator(".vlab-grade").first
    problems += [f".vlab-grade: {p}" for p in report.evaluate(FITS) + report.evaluate(READABLE_ZH)]
    assert not problems, "\n".join(problems)
    text = report.inner_text()
    assert "[未通过]" in text and "客户机应当运行到结束" in text and "（公开）" in text
    report.screenshot(path=str(ARTIFACTS / "ui-zh-report.png"), scale="css")
    ui.screenshot(path=str(ARTIFACTS / "ui-zh.png"), scale="css")  # the widget, trap log open
    if not _cjk_font():
        print("\nno font with Chinese glyphs on this machine: the screenshots show boxes "
              "(apt-get install fonts-wqy-microhei)")

    # a click in the page switches the language: the open widget redraws in English
    page.click(".vlab-to-english")
    page.wait_for_function("() => document.querySelector('.vlab-zh .vlab-step')?.innerText"
                           ".trim() === 'Step'", timeout=30_000)
    page.wait_for_function("() => document.querySelector('.vlab-zh .lm-TabBar-tab')?.innerText"
                           ".trim() === 'Trap log'", timeout=30_000)  # (each view in its turn)
    page.wait_for_function("() => !/[\\u4e00-\\u9fff]/.test(document.querySelector("
                           "'.vlab-zh').innerText)", timeout=30_000)
    assert "halted" in page.inner_text(".vlab-zh .vlab-status")
    page.close()


def test_the_screenshots_have_a_font_with_chinese_glyphs():
    """(Without one, Chromium draws the Chinese UI as boxes: scripts/setup.sh test installs it.)"""
    import subprocess

    found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    assert found.strip(), "no font with Chinese glyphs: apt-get install fonts-wqy-microhei"
