"""vlab.ui as ipywidgets: the lab UI is a VBox, every view a widget; views observe the Lab's
events, redraw at most MAX_REDRAWS_PER_S times a second, never change the Lab while drawing,
never show unbounded lists; without a widget front end the static HTML still shows."""

import time
from itertools import pairwise

import pytest

W = pytest.importorskip("ipywidgets")

from vlab import ui  # noqa: E402
from vlab.lab import Lab  # noqa: E402
from vlab.monitor.trace import ExitReason  # noqa: E402

#: Guest data that drawing must leave alone (those each image has are read).
LABELS = ("ticks", "syscalls", "critical_sections", "cpl_seen", "user_gp_faults",
          "demand_faults", "killed", "current", "fork_sum")

CASES = [  # guest, strategy, options, partial run
    ("kernel", "native", {}, 4_000),
    ("kernel", "trap_emulate", {}, 4_000),
    ("kernel", "binary_translation", {}, 4_000),
    ("kernel", "vtx", {}, 4_000),
    ("kernel-pv", "paravirt", {}, 3_000),
    ("paging", "binary_translation", {}, 60_000),
    ("paging", "vtx", {"ept": False}, 60_000),
    ("paging", "vtx", {}, 60_000),
    ("paging-pv", "paravirt", {}, 60_000),
]


def _model(lab: Lab) -> dict:
    """Everything a view could disturb, as values."""
    return {
        "state": lab.state(), "console": lab.console, "instructions": lab.instructions,
        "exits": lab.trace.total, "counts": lab.trace.counts(), "status": lab.status,
        "strategy": lab.strategy_name, "ept": lab.ept_enabled, "history": len(lab.history),
        "exit_breakpoints": set(lab.exit_breakpoints), "mode_bp": lab.break_on_mode_change,
        "memory": lab.memory_summary(), "translation": lab.translation_stats(),
        "page_faults": len(lab.page_faults()),
        "ram": {label: lab.read_u32(label) for label in LABELS if label in lab.image.symbols},
    }


def test_the_lab_ui_is_a_vbox_that_composes():
    lab = Lab("kernel", "trap_emulate")
    widget = lab.widget()
    assert isinstance(widget, W.VBox) and isinstance(widget, ui.LabWidget)
    row = W.HBox([lab.widget(), W.Label("x")])
    assert len(row.children) == 2 and isinstance(row.children[0], W.VBox)
    assert "application/vnd.jupyter.widget-view+json" in widget._repr_mimebundle_()
    assert "vlab-lab" in widget._dom_classes


def test_every_view_is_a_widget():
    lab = Lab("kernel", "vtx")
    for cls in ui.VIEWS:
        assert issubclass(cls, W.Widget), cls
        view = cls(lab)
        assert isinstance(view, W.DOMWidget) and view.css in view._dom_classes
        view.close()
    widget = lab.widget()
    assert all(isinstance(v, W.Widget) for v in widget.views)
    assert {type(v) for v in widget.views} == set(ui.VIEWS)
    for css in ("vlab-step", "vlab-step-over", "vlab-back", "vlab-run", "vlab-exit", "vlab-reset"):
        assert any(css in b._dom_classes for b in widget.controls.buttons.values()), css


@pytest.mark.parametrize("guest,strategy,options,partial", CASES,
                         ids=[f"{c[0]}-{c[1]}{'-' + str(c[2]) if c[2] else ''}" for c in CASES])
def test_drawing_changes_nothing_in_the_model(guest, strategy, options, partial):
    lab = Lab(guest, strategy, strategy_options=options)
    lab.run(max_instructions=partial)
    assert lab.status == "running" and lab.instructions == partial
    before = _model(lab)
    widget = lab.widget()
    widget.refresh()
    widget.refresh()
    for cls in ui.VIEWS:
        view = cls(lab)
        view.refresh()
        view.close()
    ui.static_html(lab)
    lab._repr_mimebundle_()
    ui.flush()
    assert _model(lab) == before
    assert f"{lab.state().eip:#010x}" in widget.cpu.value
    assert widget.strategy.buttons.value == strategy
    lab.run()  # and the guest still runs to its end as it would have
    assert lab.status == "halted"


def test_a_view_follows_the_lab_when_stepped_from_outside():
    lab = Lab("kernel", "trap_emulate")
    cpu, widget = ui.RegisterView(lab), lab.widget()
    lab.step()  # not through the widget: the views see the "stopped" event
    eip = f"{lab.state().eip:#010x}"
    assert eip in cpu.value and eip in widget.cpu.value
    assert "1 instructions" in widget.controls.counter.value
    time.sleep(1.1 / ui.MAX_REDRAWS_PER_S)
    lab.switch("vtx")  # "switched"
    assert widget.strategy.buttons.value == "vtx" and "non-root" in widget.cpu.value
    cpu.close()
    observers = len(lab.events.stopped)
    widget.close()
    assert len(lab.events.stopped) == observers - len(widget.views)


def test_redraws_are_throttled_and_the_last_state_is_drawn():
    lab = Lab("kernel", "trap_emulate")
    cpu = ui.RegisterView(lab)
    draws = []
    original = cpu.draw
    cpu.draw = lambda: (draws.append(time.monotonic()), original())
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.45:  # thousands of steps, each a "stopped" event
        lab.step()
    elapsed = time.monotonic() - t0
    assert lab.instructions > 100
    assert 2 <= len(draws) <= elapsed * ui.MAX_REDRAWS_PER_S + 2
    assert all(b - a >= 0.99 / ui.MAX_REDRAWS_PER_S for a, b in pairwise(draws))
    assert cpu.due or f"{lab.instructions:,} instructions" in cpu.value  # drawn, or pending
    ui.flush(lab)  # what IPython does when the cell ends
    assert f"{lab.state().eip:#010x}" in cpu.value
    assert f"{lab.instructions:,} instructions" in cpu.value


def test_a_background_run_redraws_at_most_ten_times_a_second(monkeypatch):
    renders = []
    render = ui.RegisterView.render
    monkeypatch.setattr(ui.RegisterView, "render",
                        lambda self: (renders.append(time.monotonic()), render(self))[1])
    lab = Lab("paging", "binary_translation")
    widget = lab.widget()
    widget.controls.speed.value = 3  # slices of 1,000 instructions: hundreds of stops
    renders.clear()
    t0 = time.monotonic()
    widget.actions.toggle_run()
    widget.actions.wait(120)
    elapsed = time.monotonic() - t0
    assert lab.status == "halted" and ">halted<" in widget.controls.status.value
    assert len(renders) <= elapsed * ui.MAX_REDRAWS_PER_S + 3
    assert f"{lab.state().eip:#010x}" in widget.cpu.value  # the final state is drawn


def test_actions_redraw_once():
    lab = Lab("kernel", "native")
    widget = lab.widget()
    renders = []
    render = widget.code.render
    widget.code.render = lambda: (renders.append(1), render())[1]
    widget.controls.buttons["step"].click()
    widget.controls.buttons["step"].click()
    assert len(renders) == 2 and lab.instructions == 2


def test_views_never_render_unbounded_lists():
    lab = Lab("forkwait", "binary_translation")
    lab.run()
    widget = lab.widget()
    assert lab.trace.total > 1_000 and len(lab.translations) > widget.translations.limit
    assert len(widget.traps.rows.options) == widget.traps.page_size
    blocks = widget.translations.value.split("class='vlab-blocks'")[1]
    assert blocks.count("<tr>") == widget.translations.limit + 1
    assert "more blocks" in widget.translations.value
    assert widget.memory.value.count("<li>") <= widget.memory.faults_shown
    lab2 = Lab(image=_printer(200))
    lab2.run()
    console = ui.ConsoleView(lab2)
    assert console.value.count("\n") < ui.ConsoleView.lines


def _printer(lines: int):
    from vlab.ui.magic import assemble_cell

    return assemble_cell(f"    mov ecx, {lines}\n1:\n    PRINT \"a line\\n\"\n    loop 1b\n")


def test_controls_never_write_back_while_drawing():
    lab = Lab("kernel", "vtx", strategy_options={"ept": False})
    widget = lab.widget()
    lab.break_on_mode_change = True
    lab.break_on_exit(ExitReason.HLT)
    saved = set(lab.exit_breakpoints)
    lab.step()
    widget.refresh()
    assert widget.controls.ring_bp.value and lab.break_on_mode_change
    assert set(lab.exit_breakpoints) == saved
    assert widget.strategy.ept.value is False and lab.ept_enabled is False
    assert lab.strategy_name == "vtx" and len(lab.history) == 0


def test_static_html_without_a_widget_front_end(monkeypatch):
    from IPython.core.formatters import DisplayFormatter

    lab = Lab("kernel", "trap_emulate")
    lab.run()
    html = ui.static_html(lab)
    assert "vlab-static" in html and "kernel done" in html and "EIP=" in html

    def no_front_end(self, **kwargs):
        raise RuntimeError("no widget front end")

    monkeypatch.setattr(ui.LabWidget, "_repr_mimebundle_", no_front_end)
    bundle = lab._repr_mimebundle_()
    assert "vlab-static" in bundle["text/html"] and bundle["text/plain"].startswith("<Lab ")
    assert "application/vnd.jupyter.widget-view+json" not in bundle
    data, _ = DisplayFormatter().format(lab)
    assert "vlab-static" in data["text/html"]


def test_the_diagram_follows_capabilities_not_names():
    from vlab.ui import diagram

    assert diagram.architecture(frozenset()) == "native"
    assert diagram.architecture({"virtual_cpu", "shadow_paging"}) == "trap_emulate"
    assert diagram.architecture({"virtual_cpu", "translation_cache"}) == "binary_translation"
    assert diagram.architecture({"virtual_cpu", "vmcs", "ept"}) == "vtx"
    assert diagram.architecture({"virtual_cpu", "hypercalls", "pv_mmu"}) == "paravirt"
    for name, caps in Lab.available_strategies().items():
        assert diagram.architecture(caps) == name
    assert "VMX non-root" in diagram.dot_source("vtx", "HLT")
    assert "(last: HLT)" in diagram.dot_source("vtx", "HLT")


def test_ui_reads_the_lab_only_through_its_public_api():
    """No view reaches past the Lab: not its machine, strategy or virtual CPU, not Unicorn, and
    it never asks the strategy what it has or what it is called (lab.capabilities says)."""
    import re
    from pathlib import Path

    forbidden = {
        r"\.machine\b": "the Lab's machine",
        r"\blab\.strategy\b": "the Lab's strategy object",
        r"\blab\.vcpu\b": "the virtual CPU (use lab.guest_view())",
        r"\bunicorn\b": "Unicorn",
        r"\bhasattr\(": "hasattr",
        r"getattr\([^)]*strateg": "getattr on a strategy",
        r"strategy_name\s*(?:[!=]=|(?:not )?in)\s*[\"'(\[{]|[\"']\s*[!=]=\s*[\w.]*strategy_name":
            "the strategy's name compared with a literal",
        r"\bstrategies\.": "the strategy registry (use Lab.available_strategies())",
    }
    offences = []
    for path in sorted(Path(ui.__file__).parent.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            offences += [f"{path.name}:{number}: {why}: {line.strip()}"
                         for pattern, why in forbidden.items() if re.search(pattern, code)]
    assert not offences, "\n".join(offences)


def test_the_end_of_a_cell_never_waits_for_a_background_slice():
    import threading

    from vlab.ui.base import lab_lock

    lab = Lab("kernel", "native")
    cpu = ui.RegisterView(lab)
    for _ in range(100):  # the first step is drawn at once, the next ones only marked due
        lab.step()
        if cpu.due:
            break
    assert cpu.due
    holding, release = threading.Event(), threading.Event()

    def slice_in_the_background():
        with lab_lock(lab):
            holding.set()
            release.wait(10)

    runner = threading.Thread(target=slice_in_the_background)
    runner.start()
    holding.wait(10)
    t0 = time.monotonic()
    ui.flush(wait=False)  # what IPython's post_run_cell does
    assert time.monotonic() - t0 < 0.5 and cpu.due
    release.set()
    runner.join(10)
    ui.flush(lab)
    assert not cpu.due and f"{lab.instructions:,} instructions" in cpu.value


def test_a_view_that_fails_to_draw_never_breaks_the_lab(monkeypatch):
    lab = Lab("kernel", "native")
    code = ui.CodeView(lab)

    def broken(self):
        raise KeyError("a bug in a view")

    monkeypatch.setattr(ui.CodeView, "render", broken)
    lab.step()  # the "stopped" observer fails: the step does not
    assert lab.instructions == 1 and "could not draw" in code.value and "KeyError" in code.value
