"""The lab's languages (vlab.i18n): the API and the gettext catalogue."""

from __future__ import annotations

import pytest

import vlab
from vlab import i18n


@pytest.fixture(autouse=True)
def english_after():
    yield
    vlab.set_language("en")


def test_set_language_switches_what_tr_returns_and_tells_observers():
    seen = []
    i18n.on_language_change(seen.append)
    assert vlab.tr("trap log") == "trap log"
    vlab.set_language("zh")
    assert vlab.language() == "zh" and vlab.tr("trap log") == "陷入日志"
    assert vlab.tr("a message nobody translated") == "a message nobody translated"
    vlab.set_language("en")
    assert seen[-2:] == ["zh", "en"] and vlab.tr("trap log") == "trap log"


def test_an_unknown_language_is_refused_with_the_ones_vlab_speaks():
    with pytest.raises(ValueError, match="en .English., zh"):
        vlab.set_language("fr")


def test_the_catalogue_is_a_po_file_gettext_tools_read():
    text = i18n.po_entry('a "quoted"\nline', "一行") + '#, fuzzy\nmsgid "x"\nmsgstr "y"\n'
    assert i18n.read_po(text) == [('a "quoted"\nline', "一行", False), ("x", "y", True)]
    with pytest.raises(ValueError, match="line 1"):
        i18n.read_po("msgid x")
    zh = i18n.catalogue("zh")
    assert zh["console"] == "控制台" and "" not in zh  # (the header entry is not a message)
