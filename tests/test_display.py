"""What the lab shows a student, read back from the rendered HTML and text (an instructor's
report, issue: graded reports unreadable in JupyterLab, decimal where the SDM writes hex, VT-x
shown as if it translated code, the Memory tab's "no monitor" under a monitor, a status that
contradicted itself, no legend, the paravirtual signature disassembled as code, serial polling
burying the trap log, comparisons cut at 48 characters). Layout in a real browser is
tests/browser/test_widget_layout.py."""

from __future__ import annotations

import html
import re

import pytest

pytest.importorskip("ipywidgets")

from vlab import ui  # noqa: E402
from vlab.compare import Comparison, Run  # noqa: E402
from vlab.grading import GradeReport, ScenarioResult  # noqa: E402
from vlab.lab import Lab  # noqa: E402
from vlab.monitor.qualification import decode_io  # noqa: E402
from vlab.monitor.trace import ExitReason  # noqa: E402

STRATEGY_GUESTS = {"native": "kernel", "trap_emulate": "kernel", "binary_translation": "kernel",
                   "vtx": "kernel", "paravirt": "kernel-pv"}


def _text(markup: str) -> str:
    """What a reader sees of some HTML: tags dropped, entities decoded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def _everything(widget: ui.LabWidget) -> str:
    """Every piece of HTML and every label the lab widget shows, one trap-log row of each
    reason selected in turn (its detail pane included)."""
    traps = widget.traps
    parts = [v.value for v in widget.views if isinstance(getattr(v, "value", None), str)]
    parts += [widget.controls.counter.value, widget.controls.status.value, traps.summary.value,
              traps.chart.value, ui.static_html(widget.lab)]
    for reason in list(traps.filter.options):
        traps.filter.value = reason
        parts += [label for label, _ in traps.rows.options]
        if traps.rows.options:
            traps.rows.value = traps.rows.options[0][1]
            parts.append(traps.detail.value)
    traps.filter.value = "all"
    return "\n".join(parts)


# ------------------------------------------------------------------ 1. graded reports
def _report() -> GradeReport:
    return GradeReport("03-serial", [
        ScenarioResult("polling the line-status register", 3, 3, "visible", ["console: 3 / 3"], []),
        ScenarioResult("a handler that writes every byte to the data port", 1.5, 4, "visible",
                       ["console output is right: 0 / 2 (line 3 differs: expected 'hello from "
                        "the user task (ring 3)', got 'hello from the user')"],
                       ["#1021 IO_INSTRUCTION @0x00100465 out dx, al"])],
        problem="the handler printed to stdout", isolation="bubblewrap (no network)")


def test_a_graded_report_is_a_left_aligned_block_with_each_score_on_one_line():
    report = _report()
    page = report._repr_html_()
    root = re.match(r"<div class='vlab-grade' style='([^']*)'", page)
    assert root, page[:200]
    for rule in ("display:block", "text-align:left", "max-width:100%", "word-break:normal",
                 "white-space:normal"):
        assert rule in root.group(1), rule
    # JupyterLab right-aligns cells and centres tables: every block and cell says left, and
    # the table sits in a shrink-to-fit block (nothing to centre it in)
    for tag in re.findall(r"<(?:div|pre|td|th)\b[^>]*>", page):
        assert "text-align:left" in tag, tag
    assert re.search(r"<div style='display:inline-block;[^']*'><table>", page)
    scores = re.findall(r"<span class='vlab-score' style='([^']*)'>([^<]*)</span>", page)
    assert [s for _, s in scores] == ["4.5 / 7", "3 / 3", "1.5 / 4"]
    assert all("white-space:nowrap" in style for style, _ in scores)
    assert "break-all" not in page and "anywhere" not in page  # words are never cut
    assert "the handler printed to stdout" in page and "bubblewrap (no network)" in page
    assert "'hello from the user task (ring 3)'" in html.unescape(page)


# ------------------------------------------------------------------ 2. hex everywhere
@pytest.mark.parametrize("strategy,options", [
    ("native", {}), ("trap_emulate", {}), ("binary_translation", {}), ("vtx", {}),
    ("vtx", {"ept": False}), ("paravirt", {})])
def test_addresses_and_registers_are_hex_and_no_record_is_a_python_dict(strategy, options):
    lab = Lab("paging" if strategy != "paravirt" else "paging-pv", strategy,
              strategy_options=options)
    lab.run(until="fork_test")
    widget = lab.widget()
    widget.controls.buttons["exit"].click()  # the status names the exit that stopped it
    widget.refresh()
    shown = _everything(widget)
    text = _text(shown)
    assert "{'" not in text and "TableRegister(" not in text and "Exit(" not in text
    st = lab.state()
    addresses = {st.eip, st.esp, st.gdtr.base, st.idtr.base, st.cr3}
    addresses |= {e.eip for e in lab.trace.recent}
    addresses |= {v for k, v in lab.memory_summary().items() if "CR3" in k}
    for value in addresses - set(range(10_000)):  # (small numbers read the same either way)
        assert not re.search(rf"(?<![\w.]){value}(?![\w.])", text), \
            f"{value} ({value:#x}) shown in decimal"
    assert f"{st.eip:#010x}" in text and f"{st.gdtr.base:#010x}" in text


def test_the_translations_tab_and_the_history_show_counters_as_lines():
    lab = Lab("kernel", "binary_translation")
    lab.run()
    lab.switch("trap_emulate")
    lab.switch("binary_translation")
    lab.run(max_instructions=5_000)
    widget = lab.widget()
    stats = lab.translation_stats()
    text = _text(widget.translations.value)
    assert "{" not in text and "}" not in text
    assert f"blocks {stats['blocks']:,}" in text and f"hits {stats['hits']:,}" in text
    for mnemonic, n in stats["callouts"].items():
        assert f"{mnemonic} ×{n:,}" in text
    history = _text(widget.history.value)
    assert "{" not in history and "halted (exit code 0)" in history
    assert f"IO_INSTRUCTION {lab.history[0]['exits']['IO_INSTRUCTION']:,}" in history


# ------------------------------------------------------------------ 3. VT-x
def test_vtx_never_says_it_translates_code(monkeypatch):
    lab = Lab("kernel", "vtx")
    lab.run(max_instructions=20_000)
    widget = lab.widget()
    for view in (widget.code, widget.translations):
        assert "callout" not in view.value and ">translated<" not in view.value
    assert "translates nothing" in widget.translations.value
    assert "HLT exiting" in widget.translations.value  # what does make the guest exit
    # a Lab that lists the blocks the VT-x model scans: shown as what may exit, not translated
    monkeypatch.setattr(Lab, "translations", property(lambda self: list(self.strategy.translations)))
    assert lab.translations, "the VT-x model scans blocks"
    widget.refresh()
    for view in (widget.code, widget.translations):
        assert "callout" not in view.value and "inline" not in view.value
        assert ">translated<" not in view.value and "as is<" not in view.value
    assert "instructions the VMCS controls can make exit" in widget.translations.value
    assert "VM exit? (VMCS controls)" in widget.code.value


def test_vtx_shows_the_guests_own_descriptor_tables():
    lab = Lab("kernel", "vtx")
    lab.run(max_instructions=20_000)
    widget = lab.widget()
    st = lab.state()
    cpu = _text(widget.cpu.value)
    assert "virtual" not in cpu
    assert f"GDTR base={st.gdtr.base:#010x} limit={st.gdtr.limit:#06x} (the guest's own" in cpu
    vmcs = _text(widget.vmcs.value)
    assert re.search(rf"GUEST_GDTR_BASE\s+0x6816\s+{lab.vmcs['GUEST_GDTR_BASE']:#010x}", vmcs)
    assert lab.vmcs["GUEST_GDTR_BASE"] == st.gdtr.base  # the guest's own, saved at the exit
    # under trap-and-emulate the guest's GDTR is virtual, and before LGDT it has none
    te = Lab("kernel", "trap_emulate")
    te_cpu = _text(ui.RegisterView(te).value)
    assert "the guest has loaded none yet" in te_cpu and "virtual base=0x00000000" not in te_cpu


@pytest.mark.parametrize("ept", [True, False])
def test_vmcs_control_words_are_decoded_by_bit(ept):
    lab = Lab("paging", "vtx", strategy_options={"ept": ept})
    lab.run(until="fork_test")
    view = ui.VmcsView(lab)
    text = _text(view.value)
    primary = lab.vmcs["CPU_BASED_VM_EXEC_CONTROL"]
    # (at fork_test a timer interrupt may wait for its window: "interrupt-window exiting" first)
    assert re.search(rf"CPU_BASED_VM_EXEC_CONTROL\s+0x4002\s+{primary:#010x}\s+"
                     r"(interrupt-window exiting, )?HLT exiting, ", text)
    assert ("interrupt-window exiting" in text) is bool(primary & 1 << 2)
    assert "unconditional I/O exiting" in text and "external-interrupt exiting" in text
    assert ("enable EPT" in text) is ept and ("CR3-load exiting" in text) is not ept
    assert ("exit on #PF" in text) is not ept  # the exception bitmap, by vector
    lab.vmcs.set_control("USE_IO_BITMAPS")
    view.refresh()
    assert "use I/O bitmaps" in view.value
    reason = lab.vmcs["VM_EXIT_REASON"]
    assert f"{ExitReason(reason).name} (basic reason {reason})" in _text(view.value)


def test_the_bit_names_agree_with_the_vtx_model():
    """Every control bit vlab models has the SDM's name at the same bit in the UI's table."""
    from vlab.hw.vmcs import CONTROL_BITS
    from vlab.ui.sdm import CONTROL_WORDS

    spelled = {"UNCOND_IO_EXITING": "unconditional I/O exiting",
               "DESC_TABLE_EXITING": "descriptor-table exiting"}

    def norm(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.lower())

    for word, bits in CONTROL_BITS.items():
        for name, mask in bits.items():
            bit = mask.bit_length() - 1
            shown = CONTROL_WORDS[word].get(bit)
            assert shown is not None, f"{word} bit {bit} ({name}) has no name"
            assert norm(shown) == norm(spelled.get(name, name)), (word, bit, name, shown)


# ------------------------------------------------------------------ 4. the Memory tab
@pytest.mark.parametrize("strategy,options,says,never", [
    ("native", {}, "no monitor", "shadow"),
    ("trap_emulate", {}, "shadow page tables map guest-virtual → host-physical", "no monitor"),
    ("binary_translation", {}, "shadow page tables map guest-virtual → host-physical",
     "no monitor"),
    ("vtx", {}, "the EPT maps GPA → HPA", "no monitor"),
    ("vtx", {"ept": False}, "no EPT, so the monitor's shadow page tables", "no monitor"),
    ("paravirt", {}, "machine frames", "no monitor"),
])
def test_the_memory_tab_says_what_is_true_under_each_strategy(strategy, options, says, never):
    guest = "paging-pv" if strategy == "paravirt" else "paging"
    lab = Lab(guest, strategy, strategy_options=options)
    lab.run(until="fork_test")
    page = ui.MemoryView(lab).value
    assert says in html.unescape(page) and never not in page  # the text and the drawing
    text = _text(page)
    for key, value in lab.memory_summary().items():  # counters in decimal, a CR3 in hex
        if isinstance(value, int) and not isinstance(value, bool):
            shown = f"{value:#010x}" if key == "active guest CR3" else f"{value:,}"
            assert f"{key} {shown}" in text, (key, value)
    early = ui.MemoryView(Lab("kernel" if strategy != "paravirt" else "kernel-pv", strategy,
                              strategy_options=options)).value  # paging still off
    assert ("no monitor" in early) is (strategy == "native")


# ------------------------------------------------------------------ 5. one status
def test_the_status_line_says_one_thing():
    lab = Lab("kernel", "trap_emulate")
    widget = lab.widget()
    controls = widget.controls

    def status() -> str:
        ui.flush(lab)
        return _text(controls.counter.value + " " + controls.status.value)

    assert "ready" in status() and "running" not in status()
    controls.buttons["step"].click()
    assert "paused" in status() and "one step" in status() and "running" not in status()
    controls.buttons["exit"].click()
    first = lab.trace.recent[-1]
    assert f"after the {first.reason.name}" in status() and f"{first.eip:#010x}" in status()
    assert "running" not in status()
    lab.step()  # from the notebook, not the widget: the status follows the Lab
    assert "one step" in status()
    controls.bp.value = "no_such_label"
    controls.add_bp.click()
    assert "paused" in status() and "no label 'no_such_label'" in status()
    widget.actions.toggle_run()
    widget.actions.wait(30)
    assert "halted" in status() and "exit code 0" in status() and "running" not in status()
    assert "running" not in _text(ui.static_html(lab))


def test_a_background_run_says_running_then_what_stopped_it():
    lab = Lab("kernel", "native")
    widget = lab.widget()
    widget.controls.bp.value = "report"
    widget.controls.add_bp.click()
    widget.controls.speed.value = 1  # slices of 10 instructions: the run is seen while it runs
    widget.actions.toggle_run()
    seen = _text(widget.controls.status.value)
    widget.actions.wait(30)
    ui.flush(lab)
    assert "running" in seen
    after = _text(widget.controls.status.value)
    assert f"paused · breakpoint at {lab.address('report'):#010x}" in after, after


# ------------------------------------------------------------------ 6. legend, EPT box
def test_the_code_view_has_a_legend_for_every_colour():
    view = ui.CodeView(Lab("kernel", "trap_emulate"))
    legend = view.value.split("class='vlab-legend'")[1]
    for klass, colour in ui.views.CLASS_COLOURS.items():
        name, meaning = ui.views.CLASS_LEGEND[klass]
        assert f"color:{colour}'>&#9632; {html.escape(name)}</span>" in legend
        assert html.escape(meaning) in legend


def test_the_ept_box_is_shown_only_under_vtx():
    lab = Lab("paging", "native")
    widget = lab.widget()
    for strategy in ("native", "trap_emulate", "binary_translation", "paravirt", "vtx"):
        widget.strategy.buttons.value = strategy
        shown = widget.strategy.ept.layout.display != "none"
        assert shown is (strategy == "vtx"), strategy
    widget.strategy.ept.value = False  # still switches VT-x to shadow paging
    assert lab.ept_enabled is False


def test_drawings_and_buttons_keep_to_their_place():
    widget = Lab("paging", "binary_translation").widget()
    assert "<svg style='max-width:100%;height:auto" in widget.diagram.value
    assert widget.strategy.buttons.style.button_width == "auto"
    buttons = [b for b in widget.controls.buttons.values()] + [widget.controls.add_bp]
    assert all(b.layout.flex == "0 0 auto" for b in buttons)  # never squeezed below their label


def test_the_code_view_always_shows_the_current_instruction():
    """Under binary translation the view starts at EIP's block: deep in a long block, at EIP."""
    lab = Lab("kernel", "binary_translation")
    lab.run(max_instructions=3_000)
    longest = max(lab.translations, key=lambda b: len(b.instructions))
    assert len(longest.instructions) > ui.CodeView.window
    lab.reset()
    lab.run(until=longest.instructions[-2].address)
    view = ui.CodeView(lab)
    eip = lab.state().eip
    assert longest.address < eip < longest.end
    assert re.search(rf"&#9654;</td><td[^>]*><code>{eip:#010x}</code>", view.value)


# ------------------------------------------------------------------ 7. the PV signature
def test_the_paravirtual_signature_is_shown_as_data_not_code():
    lab = Lab("kernel-pv", "paravirt")
    assert lab.data_ranges() == [(lab.image.origin + 2, b"VLAB-PV1")]
    assert Lab("kernel", "native").data_ranges() == []
    view = ui.CodeView(lab)
    rows = view.listing(lab.image.origin)
    assert rows[0].text == f"jmp {lab.image.origin + 10:#x}"
    assert rows[1] == (lab.image.origin + 2, b"VLAB-PV1")
    assert rows[2].address == lab.image.origin + 10  # the code the jump lands on, decoded there
    text = _text(view.value)
    assert '.ascii "VLAB-PV1"' in text and "(data, not code)" in text
    assert not any(not isinstance(r, tuple) and lab.image.origin + 2 <= r.address
                   < lab.image.origin + 10 for r in rows)


# ------------------------------------------------------------------ 8. the trap log
def _all_rows(traps) -> list[str]:
    labels, traps.page = [], 0
    while True:
        traps.refresh()
        page = [label for label, _ in traps.rows.options]
        if not page:
            break
        labels += page
        traps.page += 1
    traps.page = 0
    traps.refresh()
    return labels


def test_serial_polling_is_folded_into_rows_that_count_it():
    lab = Lab("kernel", "trap_emulate")
    lab.run()
    polls = sum(1 for e in lab.trace.recent if e.reason is ExitReason.IO_INSTRUCTION
                and decode_io(e.qualification).port == 0x3FD and decode_io(e.qualification).is_in)
    assert polls > lab.trace.total / 3  # the polling that buries the rest
    traps = ui.TrapLogView(lab)
    folded = _all_rows(traps)
    counted = sum(int(m.group(1).replace(",", "")) for label in folded
                  if (m := re.match(r"×([\d,]+) serial status reads \(IN 0x3fd\)", label)))
    single = sum(1 for label in folded if "IN dx=0x3fd" in label)
    assert counted + single == polls and counted > 0
    assert f"{polls - single:,} status reads" in traps.summary.value
    assert len(folded) < lab.trace.total / 4
    assert all(re.search(r"@0x[0-9a-f]{8} ", label) for label in folded if label.startswith("#"))
    # a folded row opens to what it folded: the text the guest wrote, in full
    fold = next(v for label, v in traps.rows.options if label.startswith("×"))
    traps.rows.value = fold
    assert "serial status reads" in traps.detail.value and "kernel done" in traps.detail.value
    traps.fold.value = False  # and unfolded, every exit is its own row again
    unfolded = _all_rows(traps)
    assert len(unfolded) == lab.trace.total and sum("IN dx=0x3fd" in x for x in unfolded) == polls


def test_an_exit_row_and_its_detail_are_hex():
    lab = Lab("kernel-pv", "paravirt")
    lab.run(max_instructions=3_000)
    traps = ui.TrapLogView(lab)
    traps.filter.value = "HYPERCALL"
    traps.rows.value = traps.rows.options[0][1]
    e = next(x for x in lab.trace.recent if x.index == traps.rows.value)
    label = traps.rows.options[0][0]
    assert label.startswith(f"#{e.index} @{e.eip:#010x} HYPERCALL(0x10b)")
    detail = _text(traps.detail.value)
    assert "{" not in detail and f"{e.eip:#010x}" in detail
    args = e.detail.get("args") or {}
    for key, value in args.items():
        expect = f"{value:,}" if key == "count" else (f"{value:#010x}" if value >= 0x10000
                                                       else f"{value:#x}")
        assert re.search(rf"{key}\s+{re.escape(expect)}", detail), (key, value)


# ------------------------------------------------------------------ 9. comparisons
def _comparison(long: str) -> Comparison:
    c = Comparison("kernel")
    for name, extra in (("native", ""), ("trap_emulate", " (the hole)"), ("paravirt", "")):
        console = f"vlab teaching kernel\n{long}{extra}\nkernel done\n"
        c.runs[name] = Run(name, "halted", console, 100, {}, 0, 0, 0.01)
    return c


def test_a_comparison_shows_every_line_whole():
    long = ("GDT (sgdt): base=0xffff2000 limit=0x0000020f and a line that goes on well past "
            "forty-eight characters to its very last word: zanzibar")
    c = _comparison(long)
    text = str(c)
    table = text.split("\n\n")[0]
    for column in range(3):  # the side-by-side columns wrap a long line, never cut it
        pieces = " ".join((row[2:].split(" | ") + [""] * 3)[column].strip()
                          for row in table.splitlines()[1:])
        for name in c.strategies:
            for line in c.lines(name):
                if name == c.strategies[column]:
                    assert line in pieces, line
    assert max(len(x) for x in text.splitlines()[:len(table.splitlines())]) <= c.text_width
    assert f"    trap_emulate  {long} (the hole)" in text  # and the differences, in full
    page = c._repr_html_()
    assert f">{html.escape(long)} (the hole)</td>" in page
    assert "white-space:pre-wrap" in page and "overflow-x:auto" in page
    assert "text-align:right" not in page and "table-layout:auto" in page


# ------------------------------------------------------------------ the browser test's cases
def test_every_notebook_widget_case_runs_alone():
    """The browser test runs only what creates each course notebook's widget: that cut-down
    code must run on its own and end with the widget."""
    from tests.browser.widget_cases import SHOWN, STRATEGY_CASES, case_cell, notebook_cases

    cases = notebook_cases()
    assert any(c.name.startswith("00-") for c in cases)
    for case in cases + STRATEGY_CASES:
        namespace: dict = {}
        exec(compile(case_cell(case), case.name, "exec"), namespace)
        widget = namespace[SHOWN]
        assert isinstance(widget, ui.LabWidget), f"{case.name}: {getattr(widget, 'value', widget)}"
        assert case.css in widget._dom_classes


def test_the_cpu_view_shows_the_selectors_and_the_top_of_the_stack():
    """What notebook 01 asks a student to predict: CS/SS/DS... (CS's RPL is the CPL), TR, LDTR,
    and the dwords at SS:ESP (an interrupt frame after int 0x80 from ring 3: EIP, CS 0x2b,
    EFLAGS, ESP, SS), in hex; a selector that changed is highlighted."""
    from vlab.ui.views import RegisterView

    lab = Lab("kernel", "native")
    view = RegisterView(lab)
    lab.run(until="user_main")
    assert "CS 0x002b" in _text(view.render()).replace("\xa0", " ")  # ring 3: RPL 3
    lab.run(until="syscall_handler")
    text = _text(view.render())
    st = lab.state()
    assert f"CS {st.cs:#06x}" in text.replace("\xa0", " ") and st.cs == 0x08
    frame = [int.from_bytes(lab.read(st.esp + 4 * i, 4), "little") for i in range(4)]
    assert frame[1] == 0x2B and frame[2] & 0x200
    assert "stack " + " ".join(f"{w:#010x}" for w in frame) in " ".join(text.split())
    assert "background:#fff3a0'>CS" in view.render().replace('"', "'")
