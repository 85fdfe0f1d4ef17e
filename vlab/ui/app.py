"""The whole lab in one widget (``lab.widget()``), and its static snapshot for front ends where
widgets are not live."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as W

from .actions import LabActions
from .base import HtmlView
from .controls import Controls, StrategyToggle, run_state, state_html
from .display import BLOCK, WRAP, h
from .memory_view import MemoryView
from .trap_log import TrapLogView
from .views import REGISTERS, CodeView, ConsoleView, DiagramView, RegisterView, TranslationView, VmcsView

if TYPE_CHECKING:
    from ..lab import Lab


class HistoryView(HtmlView):
    """The previous runs (``lab.history``, the latest ``shown``), kept across strategy switches."""

    css = "vlab-history"
    shown = 5

    def render(self) -> str:
        history = self.lab.history
        if not history:
            return ""
        rows = "".join(f"<li style='{WRAP}'>{h(r['strategy'])} ({h(r['guest'])}): "
                       f"{h(_ended(r))}, {r['instructions']:,} instructions, exits: "
                       f"{h(', '.join(f'{k} {n:,}' for k, n in r['exits'].items()) or 'none')}</li>"
                       for r in history[-self.shown:])
        return f"<details><summary>previous runs</summary><ul>{rows}</ul></details>"


def _ended(summary: dict) -> str:
    """How a previous run ended ("running" in a Lab's summary is a run switched away from)."""
    status = summary["status"]
    if status == "halted":
        return f"halted (exit code {summary['exit_code']})"
    return "switched away before the end" if status == "running" else f"error {status}"


class LabWidget(W.VBox):
    """The whole lab in one UI: controls, strategy toggle, CPU and code views, then tabs with the
    trap log, diagram, console, VMCS, translation cache and memory, and the previous runs. A
    ``VBox``: display it, or put it in any ipywidgets layout."""

    TABS = ("Trap log", "Diagram", "Console", "VMCS", "Translations", "Memory")

    def __init__(self, lab: Lab, **kwargs):
        self.lab = lab
        self.actions = LabActions(lab)
        self.controls = Controls(lab, self.actions)
        self.strategy = StrategyToggle(lab, self.actions)
        self.cpu, self.code = RegisterView(lab), CodeView(lab)
        self.traps, self.diagram, self.console = TrapLogView(lab), DiagramView(lab), ConsoleView(lab)
        self.vmcs, self.translations, self.memory = VmcsView(lab), TranslationView(lab), MemoryView(lab)
        self.history = HistoryView(lab)
        self.tabs = W.Tab(children=[self.traps, self.diagram, self.console, self.vmcs,
                                    self.translations, self.memory], titles=self.TABS)
        # CPU and code side by side when there is room, one under the other when not
        self.cpu.layout = W.Layout(flex="1 1 22em", min_width="0")
        self.code.layout = W.Layout(flex="1 1 26em", min_width="0")
        super().__init__(children=[self.controls, self.strategy,
                                   W.HBox([self.cpu, self.code],
                                          layout=W.Layout(flex_flow="row wrap", width="100%")),
                                   self.tabs, self.history], **kwargs)
        self.add_class("vlab-lab")

    @property
    def views(self) -> tuple:
        """Every view of the lab in this UI."""
        return (self.controls, self.strategy, self.cpu, self.code, self.traps, self.diagram,
                self.console, self.vmcs, self.translations, self.memory, self.history)

    def refresh(self) -> None:
        """Redraw every view once now."""
        for view in self.views:
            view.refresh()

    def close(self) -> None:
        """Close every view (they stop observing the Lab), then the layout."""
        for view in self.views:
            view.close()
        super().close()


def static_html(lab: Lab) -> str:
    """A static snapshot of the lab, for front ends where widgets are not live."""
    st = lab.state()
    regs = " ".join(f"{r.upper()}={getattr(st, r):#010x}" for r in REGISTERS)
    counts = ", ".join(f"{k} {v:,}" for k, v in lab.trace.counts().items()) or "none"
    return (f"<div class='vlab-static' style='{BLOCK}'><b>vlab</b>: {h(lab.guest)} under "
            f"{h(lab.strategy_name)} &middot; {state_html(*run_state(lab, None))} &middot; "
            f"{st.instructions:,} instructions<br>"
            f"<code style='{WRAP}'>{h(regs)}</code><br>CPL {st.cpl}, VMX {h(st.vmx_mode)}; "
            f"exits: {h(counts)}<pre style='white-space:pre-wrap;text-align:left'>"
            f"{h(lab.console[-2000:])}</pre></div>")
