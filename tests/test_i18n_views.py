"""The lab's UI in Chinese: every view of ``lab.widget()``, drawn after the kernel ran, shows
no English label once ``vlab.set_language("zh")`` switched it, and redraws at the switch.

What may stay English is the lab's data, never its words: the guest's console, symbols,
instructions and registers, handler and hypercall names, identifiers (``cr3_loads``), Intel's
names (exit reasons, VMCS fields, in capitals). The test takes those words from the Lab itself
and finds every other English word in the Chinese rendering; it checks too that the English
rendering had such words (the labels that were translated), and that switching back to English
draws exactly what was drawn before."""

from __future__ import annotations

import html
import re

import pytest

pytest.importorskip("ipywidgets")

import vlab  # noqa: E402
from vlab import isa, ui  # noqa: E402
from vlab.explain import ORDINARY  # noqa: E402
from vlab.guests import hypervisor  # noqa: E402
from vlab.lab import Lab  # noqa: E402
from vlab.monitor.trace import COSTS  # noqa: E402
from vlab.strategies import STRATEGIES  # noqa: E402
from vlab.ui.asmhelp import REGISTERS  # noqa: E402
from vlab.ui.magic import report_html, text_of  # noqa: E402

#: x86's mnemonics and registers, as vlab knows them (the diagram's "int 0x80", "iret").
MNEMONICS = frozenset(ORDINARY | isa.PRIVILEGED | isa.SENSITIVE | isa.IO | isa.VMX) | set(REGISTERS)

CJK = re.compile(r"[\u4e00-\u9fff]")
#: An English word (three letters or more, lower case after its first letter): an identifier
#: (``cr3_loads``, ``handle_cli``), a number or an all-capitals name is not one.
WORD = re.compile(r"(?<![\w.$'])[A-Za-z][a-z]{2,}(?![\w$])")

CASES = [  # guest, strategy, options, instructions
    ("kernel", "native", {}, 60_000),
    ("kernel", "trap_emulate", {}, 60_000),
    ("kernel", "binary_translation", {}, 60_000),
    ("kernel", "vtx", {}, 60_000),
    ("kernel-pv", "paravirt", {}, 60_000),
    ("paging", "binary_translation", {}, 60_000),
    ("paging", "vtx", {"ept": False}, 60_000),
    ("paging", "vtx", {}, 60_000),
    ("paging-pv", "paravirt", {}, 60_000),
    ("hypervisor", "vtx", {}, 64_805),  # a guest hypervisor, nested: both VMCSes
]


@pytest.fixture(autouse=True)
def english_after():
    vlab.set_language("en")
    yield
    vlab.set_language("en")


def _lab(guest: str, strategy: str, options: dict, instructions: int) -> Lab:
    if guest == "hypervisor":
        lab = Lab(image=hypervisor.bundle(), strategy=strategy)
    else:
        lab = Lab(guest, strategy, strategy_options=options)
    lab.run(max_instructions=instructions)
    return lab


def _texts(widget: ui.LabWidget) -> dict[str, str]:
    """Everything a person reads in the lab's UI, by where it is: each view's HTML, every
    control's label, placeholder and tooltip, the trap log's rows and the detail of a few."""
    out = {}
    for view in widget.views:
        if isinstance(getattr(view, "value", None), str):
            out[type(view).__name__] = view.value
    c, s, t = widget.controls, widget.strategy, widget.traps
    out["controls"] = " | ".join(
        [b.description + " " + b.tooltip for b in c.buttons.values()]
        + [c.bp.placeholder, c.add_bp.description, c.add_bp.tooltip, c.exit_bp.description,
           c.exit_bp.tooltip, c.ring_bp.description, c.speed.description, c.speed.tooltip,
           c.status.value, c.counter.value, c.exit_bp.label])
    out["strategies"] = " | ".join([label for label, _ in s.buttons.options]
                                   + list(s.buttons.tooltips) + [s.ept.tooltip])
    out["tabs"] = " | ".join(widget.tabs.titles)
    out["trap log"] = " | ".join(
        [t.filter.description, t.filter.tooltip, t.filter.options[0], t.fold.description,
         t.fold.tooltip, t.newer.description, t.older.description, t.newer.tooltip,
         t.summary.value, t.chart.value] + [label for label, _ in t.rows.options])
    details = []
    for fold in (True, False):  # a folded run of serial polling, and single exits
        t.fold.value = fold
        for _, key in t.rows.options[:4]:
            t.rows.value = key
            details.append(t.detail.value)
    t.fold.value = True
    out["exit detail"] = " | ".join(details)
    return out


def _data_words(lab: Lab) -> set[str]:
    """Words that are the lab's data, the same in every language."""
    text = [lab.console, lab.guest, " ".join(lab.image.symbols), " ".join(COSTS),
            " ".join(STRATEGIES), "vlab", " ".join(MNEMONICS)]
    for e in lab.trace.recent:
        text += [e.instruction, e.handler, e.kind, e.strategy]
        for value in e.detail.values():
            if isinstance(value, str):
                text.append(value)
            elif isinstance(value, dict):
                text += [str(k) for k in value]
    for b in lab.translations:
        text += [i.text for i in b.instructions]
    view = ui.CodeView(lab)
    text += [r.text for r in view.listing(lab.state().eip) if not isinstance(r, tuple)]
    view.close()
    return set(WORD.findall(" ".join(text)))


def _words(markup: str) -> set[str]:
    """The English words a person reads in HTML (drawings' element ids aside)."""
    markup = re.sub(r"<title>.*?</title>", "", markup, flags=re.S)  # graphviz's ids (n1->n2)
    markup = re.sub(r"<!--.*?-->", "", markup, flags=re.S)
    plain = text_of(markup) if "<" in markup else html.unescape(markup)
    titles = " ".join(html.unescape(t) for _, t in re.findall(r"title=(['\"])(.*?)\1", markup))
    return set(WORD.findall(plain + " " + titles))


@pytest.mark.parametrize("guest,strategy,options,instructions", CASES,
                         ids=[f"{c[0]}-{c[1]}{'-no-ept' if c[2] else ''}" for c in CASES])
def test_every_view_speaks_chinese_after_the_switch_and_english_again_after(
        guest, strategy, options, instructions):
    lab = _lab(guest, strategy, options, instructions)
    if strategy == "trap_emulate":  # a previous run too (the history's line)
        lab.switch("binary_translation")
        lab.run(max_instructions=20_000)
    widget = lab.widget()
    english = _texts(widget)
    data = _data_words(lab)
    labels = {w for text in english.values() for w in _words(text)} - data
    assert len(labels) > 40, labels  # the English UI's own words, which must go

    vlab.set_language("zh")  # the open views redraw now, nothing else is called
    chinese = _texts(widget)
    left = {where: sorted(_words(text) - data) for where, text in chinese.items()}
    left = {where: words for where, words in left.items() if words}
    assert not left, left
    for where, text in chinese.items():
        if where not in ("ConsoleView", "HistoryView") and text:
            assert CJK.search(text), (where, text[:200])
    if strategy == "trap_emulate":
        assert CJK.search(chinese["HistoryView"])

    vlab.set_language("en")
    again = _texts(widget)
    assert again == english  # the same lab drawn in English again, exactly
    widget.close()


def test_exit_reasons_keep_intel_s_names_with_chinese_on_hover():
    lab = Lab("kernel", "vtx")
    lab.run()
    vlab.set_language("zh")
    traps = ui.TrapLogView(lab)
    chart = traps.chart.value
    assert ">IO_INSTRUCTION<" in chart and ">CPUID<" in chart
    tips = dict(re.findall(r"<span title='([^']*)'>(\w+)</span>", chart))
    tips = {name: html.unescape(tip) for tip, name in tips.items()}
    assert tips["CPUID"] == "客户机询问处理器的型号与特性（在 VT-x 下 CPUID 总会退出）"
    assert all(CJK.search(tip) for tip in tips.values()) and len(tips) == len(lab.trace.counts())
    assert all(name in label for label, _ in traps.rows.options  # the rows: Intel's names
               for name in re.findall(r"([A-Z_]+)\(\d+\)", label))
    traps.filter.value = "CPUID"
    traps.rows.value = traps.rows.options[0][1]
    assert "title='客户机询问处理器" in traps.detail.value and ">CPUID<" in traps.detail.value
    vmcs = ui.VmcsView(lab).value
    assert "VM_EXIT_REASON" in vmcs and "基本退出原因" in vmcs
    svg = ui.DiagramView(lab).value  # the lit arrow's tooltip (graphviz: an SVG link's title)
    assert "VM 退出" in svg and 'xlink:title="IO_INSTRUCTION: 客户机访问了 I/O 端口' in svg


def test_every_view_class_built_alone_in_chinese_is_chinese():
    vlab.set_language("zh")
    lab = Lab("paging", "vtx", strategy_options={"ept": False})
    lab.run(max_instructions=60_000)
    for cls in ui.VIEWS:
        view = cls(lab)
        value = getattr(view, "value", None)
        if isinstance(value, str) and text_of(value) and cls is not ui.ConsoleView:
            assert CJK.search(value), cls.__name__
        view.close()
    assert "已暂停" in ui.static_html(lab) and "条指令" in ui.static_html(lab)
    assert "条指令" in report_html(lab) and "处理函数" in report_html(lab)


def test_a_language_switch_redraws_views_and_forgets_closed_or_lost_ones():
    lab = Lab("kernel", "trap_emulate")
    widget = lab.widget()
    step = widget.controls.buttons["step"]
    assert step.description == "Step" and widget.tabs.titles[0] == "Trap log"
    vlab.set_language("zh")
    assert step.description == "单步" and step.tooltip == "执行一条客户机指令"
    assert widget.tabs.titles[:3] == ("陷入日志", "示意图", "控制台")
    assert "就绪" in widget.controls.status.value and "尚未开始" in widget.controls.status.value
    assert widget.strategy.buttons.options[1] == ("陷入模拟", "trap_emulate")
    assert widget.strategy.buttons.value == "trap_emulate" and lab.strategy_name == "trap_emulate"
    step.click()  # the controls still act, in Chinese
    assert lab.instructions == 1 and "单步一次" in widget.controls.status.value
    from vlab.ui import base

    assert widget.cpu in base._SPEAKING  # noqa: SLF001
    widget.close()
    assert widget.cpu not in base._SPEAKING  # noqa: SLF001
    vlab.set_language("en")
    assert step.description == "单步"  # a closed view is not redrawn


def test_a_view_redraws_even_while_its_redraws_are_throttled():
    """A language switch is not a Lab event: it redraws at once, whatever the throttle."""
    lab = Lab("kernel", "trap_emulate")
    view = ui.DiagramView(lab)  # (a graphviz view: at most two redraws a second)
    lab.run(max_instructions=5_000)
    view.refresh()
    vlab.set_language("zh")
    assert "监控器" in view.value and "monitor" not in text_of(view.value)
