"""The lab's languages (vlab.i18n): the API, the gettext catalogue, and that the Chinese
catalogue holds every message vlab can show, and nothing else.

Messages are found by reading the sources (tests/i18n_sources.py): every literal passed to
``tr`` / ``_`` / ``N_`` in vlab/ and in the English notebooks' code cells, and the text the
exercises give the grader (scenario names, check descriptions)."""

from __future__ import annotations

import ast
import re
import string
import subprocess
import sys
import threading
import time

import pytest

import vlab
from tests.i18n_sources import (
    ROOT,
    exercise_messages,
    literals,
    notebook_messages,
    references,
    unused,
    vlab_messages,
)
from vlab import i18n

PO = ROOT / "vlab" / "locale" / "zh" / "LC_MESSAGES" / "vlab.po"
CJK = re.compile(r"[\u4e00-\u9fff]")
#: Messages whose Chinese is the same text: Intel's names and abbreviations only.
SAME_IN_CHINESE = {"NMI"}


@pytest.fixture(autouse=True)
def english_after():
    yield
    vlab.set_language("en")


def test_set_language_switches_what_tr_returns_and_tells_observers():
    seen = []
    i18n.on_language_change(seen.append)
    assert vlab.tr("Trap log") == "Trap log"
    vlab.set_language("zh")
    assert vlab.language() == "zh" and vlab.tr("Trap log") == "陷入日志"
    assert vlab.tr("a message nobody translated") == "a message nobody translated"
    vlab.set_language("en")
    assert seen[-2:] == ["zh", "en"] and vlab.tr("Trap log") == "Trap log"


def test_an_unknown_language_is_refused_with_the_ones_vlab_speaks():
    with pytest.raises(ValueError, match="en .English., zh"):
        vlab.set_language("fr")
    with pytest.raises(ValueError, match="en .English., zh"), i18n.speaking("fr"):
        pass


def test_the_catalogue_is_a_po_file_gettext_tools_read():
    text = i18n.po_entry('a "quoted"\nline', "一行") + '#, fuzzy\nmsgid "x"\nmsgstr "y"\n'
    assert i18n.read_po(text) == [('a "quoted"\nline', "一行", False), ("x", "y", True)]
    with pytest.raises(ValueError, match="line 1"):
        i18n.read_po("msgid x")
    zh = i18n.catalogue("zh")
    assert zh["Console"] == "控制台" and "" not in zh  # (the header entry is not a message)
    assert not any(fuzzy for _, _, fuzzy in i18n.read_po(PO.read_text("utf-8")))


def test_msgfmt_accepts_the_catalogue_placeholders_included():
    """GNU gettext's own check (python-brace-format: the same placeholders on both sides)."""
    from shutil import which

    if which("msgfmt") is None:  # (gettext is not one of vlab's packages: the next test
        return  # checks the placeholders itself)
    out = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(PO)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_speaking_sets_the_language_of_one_thread_of_work_only():
    """The grader speaks the language it was asked for; the lab (and other threads) keep theirs."""
    seen = {}
    with i18n.speaking("zh") as lang:
        assert lang == "zh" and vlab.tr("Trap log") == "陷入日志" and i18n.spoken() == "zh"
        assert vlab.language() == "en"  # the lab's own language is unchanged
        other = threading.Thread(target=lambda: seen.update(t=vlab.tr("Trap log")))
        other.start()
        other.join()
        with i18n.speaking("en"):
            assert vlab.tr("Trap log") == "Trap log"
        assert vlab.tr("Trap log", "en") == "Trap log"  # an explicit language wins
    assert seen["t"] == "Trap log" and vlab.tr("Trap log") == "Trap log"
    vlab.set_language("zh")
    with i18n.speaking(None):  # None: the lab's
        assert i18n.spoken() == "zh"


# ------------------------------------------------------------------ the catalogue is complete
def test_every_message_in_vlab_has_a_chinese_translation():
    """No untranslated English string in the zh UI: every literal passed to tr / _ / N_ in
    vlab/ (views, grader, CLI) is in the catalogue."""
    zh = i18n.catalogue("zh")
    found = vlab_messages()
    assert len(found) > 500
    missing = {m: sorted(p)[:2] for m, p in found.items() if m not in zh}
    assert not missing, missing


def test_every_plot_label_in_the_english_notebooks_is_translated():
    zh = i18n.catalogue("zh")
    found = notebook_messages()
    assert {"EPT on", "exits per KiB", "modelled cycles in the monitor (vlab)"} <= set(found)
    missing = {m: sorted(p)[:2] for m, p in found.items() if m not in zh}
    assert not missing, missing


def test_every_scenario_and_check_the_exercises_name_is_translated():
    zh = i18n.catalogue("zh")
    found = exercise_messages()
    assert "the kernel prints its report" in found  # (hidden scenarios too:)
    assert "console_io with a buffer outside the guest -> -EFAULT" in found
    missing = {m: sorted(p)[:2] for m, p in found.items() if m not in zh}
    assert not missing, missing


def test_no_catalogue_entry_is_unused():
    """Every entry is a message found in the sources, or one shown through ``tr(variable)``
    whose ``#:`` line names a file where it is written as a literal (notebook 09's classes of
    exits, in a legend through ``tr(c)``)."""
    assert references(PO)["Data register"] == ["notebooks/09-io-virtualization.ipynb"]
    assert not unused("zh"), unused("zh")


def test_every_entry_is_chinese_with_the_same_placeholders():
    """A translation keeps every ``{placeholder}`` of its message (str.format would fail
    otherwise) and is written in Chinese (Intel's names aside)."""
    names = string.Formatter()
    for msgid, msgstr in i18n.catalogue("zh").items():
        want = sorted(f for _, f, _, _ in names.parse(msgid) if f is not None)
        got = sorted(f for _, f, _, _ in names.parse(msgstr) if f is not None)
        assert want == got, (msgid, msgstr)
        words = re.sub(r"\{\w*\}", "", msgid)  # (a message of placeholders and marks only)
        assert CJK.search(msgstr) or msgid in SAME_IN_CHINESE or msgid.lower() == \
            msgstr.lower() or not re.search(r"[a-z]{3}", words), (msgid, msgstr)


def _glossary() -> list[tuple[list[str], list[str]]]:
    """(the course's Chinese terms, the translations it does not use) per glossary row."""
    rows = []
    for line in (ROOT / "docs" / "glossary.md").read_text("utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2] and not cells[0].startswith(("English", "---")):
            used = [t.strip() for t in re.split(r"[,/，]", cells[1]) if t.strip()]
            rows.append((used, [t.strip() for t in re.split(r"[,，]", cells[2]) if t.strip()]))
    return rows


def test_the_catalogue_uses_the_glossary_terms_only():
    """No translation the glossary's "not used" column lists (陷阱, 处理程序, 主机 ... : a
    chosen term that contains one, 宿主机 for 主机, is not a use of it)."""
    rows = _glossary()
    assert rows and any("陷阱" in avoided for _, avoided in rows)
    all_used = [t for used, _ in rows for t in used]
    avoided = [t for _, terms in rows for t in terms]
    for msgid, msgstr in i18n.catalogue("zh").items():
        text = msgstr
        for term in sorted(all_used, key=len, reverse=True):  # the chosen terms removed
            text = text.replace(term, "")
        for term in avoided:
            assert term not in text, (msgid, msgstr, term)


def test_the_glossary_terms_are_the_ones_the_ui_uses():
    zh = i18n.catalogue("zh")
    assert zh["trap-and-emulate"] == "陷入模拟" and zh["binary translation"] == "二进制翻译"
    assert zh["paravirt"] == "半虚拟化" and zh["Trap log"] == "陷入日志"
    assert zh["VM exit"] == "VM 退出" and zh["VM entry"] == "VM 进入"
    assert zh["shadow page tables"] == "影子页表" and zh["handler"] == "处理函数"
    assert zh["qualification"] == "退出限定信息" and zh["hypercall"] == "超级调用"
    assert zh["VMX non-root"] == "VMX 非根模式" and zh["callout"] == "调出"


# ------------------------------------------------------------------ how messages are written
def test_every_message_is_one_whole_literal_never_built_from_pieces():
    """``tr(f"...")`` or ``tr("..." + x)`` would look up a text no catalogue can hold: a
    message is a literal with str.format placeholders (``tr(name)`` of a value from a fixed,
    marked set is fine)."""
    bad = []
    for path in sorted((ROOT / "vlab").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("tr", "_", "N_") \
                    and node.args and isinstance(node.args[0], (ast.JoinedStr, ast.BinOp)):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, bad
    found, _ = literals('tr("a {x} b").format(x=1)\nN_("c")\nvlab.tr("d")\ntr(name)', "t")
    assert set(found) == {"a {x} b", "c", "d"}


def test_import_vlab_stays_fast_and_tr_is_cheap():
    """``import vlab`` loads no view, widget or catalogue; a catalogue loads once; tr() costs
    about a dictionary look-up (it runs for every label a view draws)."""
    code = ("import sys, vlab; print(sorted(m for m in sys.modules if m.startswith(('vlab.', "
            "'ipywidgets', 'unicorn', 'capstone'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "['vlab._compat', 'vlab.i18n']", out.stdout
    vlab.set_language("zh")
    vlab.tr("Step")
    t = time.perf_counter()
    for _ in range(100_000):
        vlab.tr("Step")
    per_call = (time.perf_counter() - t) / 100_000
    assert per_call < 5e-6, per_call  # (measured ~0.2 us)
    assert i18n.catalogue.cache_info().currsize >= 1
