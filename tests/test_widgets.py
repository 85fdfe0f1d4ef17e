"""Every widget builds from a Lab in plain pytest (no browser) and reflects state changes."""

import pytest

pytest.importorskip("ipywidgets")

from vlab.lab import Lab  # noqa: E402
from vlab.ui import (  # noqa: E402
    CodeView,
    ConsoleView,
    DiagramView,
    LabWidget,
    MemoryView,
    RegisterView,
    TrapLogView,
)


def test_each_view_builds_alone_and_follows_the_lab():
    lab = Lab("kernel", "trap_emulate")
    cpu, code, console = RegisterView(lab), CodeView(lab), ConsoleView(lab)
    traps, diag = TrapLogView(lab), DiagramView(lab)
    eip0 = f"{lab.state().eip:#010x}"
    assert eip0 in cpu.value and "&#9654;" in code.value
    lab.step()
    cpu.refresh()
    assert f"{lab.state().eip:#010x}" in cpu.value
    assert "background:#fff3a0" in cpu.value  # EIP changed: highlighted
    lab.run(until="report")
    for view in (console, traps, diag):
        view.refresh()
    assert "starting user task" in console.value
    assert len(traps.rows.options) == traps.page_size and "CLI" in traps.filter.options
    traps.filter.value = "HLT"
    assert all("HLT(12)" in label for label, _ in traps.rows.options)
    traps.rows.value = traps.rows.options[0][1]
    assert "handle_hlt" in traps.detail.value
    hlt = next(e for e in lab.trace.recent if e.index == traps.rows.value)
    assert f"{hlt.eip:#010x}" in traps.detail.value and f">{hlt.eip}<" not in traps.detail.value
    traps.filter.value = "IO_INSTRUCTION"  # the detail pane decodes the qualification, in hex
    traps.rows.value = traps.rows.options[0][1]
    io = next(e for e in lab.trace.recent if e.index == traps.rows.value)
    assert f"{io.qualification:#010x}" in traps.detail.value
    assert "qualification (decoded)" in traps.detail.value and "size 1" in traps.detail.value
    assert "<svg" in diag.value and "last: " in diag.value
    assert "CPL</b> real 1 / guest believes 0" in cpu.value


def test_lab_widget_actions_and_strategy_switch():
    lab = Lab("kernel", "native")
    ui = lab.widget()
    eip = lab.state().eip
    ui.controls.buttons["step"].click()
    assert lab.state().eip != eip and lab.machine.instructions == 1
    ui.controls.buttons["back"].click()
    assert lab.state().eip == eip
    ui.strategy.buttons.value = "vtx"
    assert lab.strategy.name == "vtx" and "non-root" in ui.cpu.value
    ui.controls.buttons["exit"].click()  # run to the next exit
    first = lab.trace.recent[0]
    assert lab.trace.total == 1 and ">paused<" in ui.controls.status.value
    assert f"after the {first.reason.name}({int(first.reason)}) exit at {first.eip:#010x}" in \
        ui.controls.status.value
    assert "VM_EXIT_REASON" in ui.vmcs.value
    ui.strategy.buttons.value = "paravirt"  # picks kernel-pv
    assert lab.guest == "kernel-pv" and "previous runs" in ui.history.value


def test_background_run_and_pause():
    lab = Lab("kernel", "binary_translation")
    ui = lab.widget()
    ui.controls.speed.value = 3
    ui.actions.toggle_run()
    ui.actions.wait(30)
    assert lab.exit_code == 0 and "kernel done" in ui.console.value
    assert ui.controls.buttons["run"].description == "Run"
    assert "callout" in ui.code.value or "vlab-blocks" in ui.translations.value


def test_errors_are_shown_not_raised():
    from tests.conftest import build

    lab = Lab(image=build("faults", CASE=1))
    ui = lab.widget()
    ui.controls.buttons["run"].click()
    ui.actions.wait(10)
    assert "InvalidOpcode" in ui.controls.status.value
    ui.controls.buttons["reset"].click()
    assert lab.status == "running"


def test_breakpoint_controls():
    lab = Lab("kernel")
    ui = lab.widget()
    ui.controls.bp.value = "timer_handler"
    ui.controls.add_bp.click()
    ui.controls.buttons["run"].click()
    ui.actions.wait(10)
    assert lab.symbol(lab.state().eip) == "timer_handler"
    ui.controls.ring_bp.value = True
    assert lab.break_on_mode_change


def test_diagram_without_dot_shows_text_and_hint(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    view = DiagramView(Lab("kernel", "paravirt" if False else "vtx"))
    assert "apt-get install -y graphviz" in view.value and "digraph" in view.value


def test_static_view_for_non_widget_front_ends():
    lab = Lab("kernel", "trap_emulate")
    lab.run()
    bundle = lab._repr_mimebundle_()
    assert "vlab-static" in bundle["text/html"] and "kernel done" in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle


@pytest.mark.parametrize("strategy,options,mechanism", [
    ("binary_translation", {}, "shadow page tables"),
    ("vtx", {}, "guest page tables + EPT"),
    ("native", {}, "guest page tables"),
])
def test_memory_view_shows_the_walk_of_the_last_fault(strategy, options, mechanism):
    lab = Lab("paging", strategy, strategy_options=options)
    lab.run(until="fork_test")
    view = MemoryView(lab)
    html = view.value
    assert f"<b>{mechanism}</b>" in html and "guest PDE @" in html and "<svg" in html
    if strategy == "binary_translation":
        last = lab.page_faults()[-1]
        assert f"GVA {last.linear:#010x}" in html and "shadow PDE @" in html
        assert "hidden_faults" in html and "latest page faults" in html
    if strategy == "vtx":
        assert "EPT violations" in html
    lab.run()
    view.refresh()
    assert view.value != html or strategy != "binary_translation"


def test_translation_diagram_names_both_dimensions():
    from vlab.ui import diagram

    lab = Lab("paging", "vtx")
    lab.run(until="fork_test")
    dot = diagram.translation_dot(lab.translate("user_main"))
    assert "GPA" in dot and "EPT entry" in dot and "HPA" in dot
    lab2 = Lab("paging", "binary_translation")
    lab2.run(until="fork_test")
    dot = diagram.translation_dot(lab2.translate("user_main"))
    assert "shadow page tables the core walks" in dot and "kept in sync" in dot


def test_ept_checkbox_switches_vtx_between_ept_and_shadow_paging():
    ui = LabWidget(Lab("paging", "vtx"))
    assert ui.strategy.ept.value and ui.lab.strategy.ept_enabled
    ui.strategy.ept.value = False  # reboots under VT-x with shadow page tables
    assert ui.lab.strategy.name == "vtx" and not ui.lab.strategy.ept_enabled
    ui.actions.act(ui.lab.run)
    assert "hidden_faults" in ui.memory.value and ui.lab.exit_code == 0
    ui.strategy.buttons.value = "binary_translation"
    ui.strategy.buttons.value = "vtx"  # the checkbox's choice holds for the next switch
    assert not ui.lab.strategy.ept_enabled
