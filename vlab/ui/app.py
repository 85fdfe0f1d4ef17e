"""The whole lab in one widget (``lab.widget()``), and its static snapshot for front ends where
widgets are not live."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as W

from ..i18n import N_, tr
from .actions import LabActions
from .base import HtmlView, follow_language, forget_language
from .controls import Controls, StrategyToggle, run_state, state_html
from .display import BLOCK, WRAP, h
from .memory_view import MemoryView
from .trap_log import TrapLogView
from .views import REGISTERS, CodeView, ConsoleView, DiagramView, RegisterView, TranslationView, VmcsView
from .words import reason_html

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
        rows = "".join(
            f"<li style='{WRAP}'>" + h(tr("{strategy} ({guest}): {ended}, {count} instructions, "
                                          "exits: {exits}")).format(
                strategy=h(r["strategy"]), guest=h(r["guest"]), ended=h(_ended(r)),
                count=f"{r['instructions']:,}",
                exits=", ".join(reason_html(k, f"{k} {n:,}") for k, n in r["exits"].items())
                or h(tr("none"))) + "</li>"
            for r in history[-self.shown:])
        return f"<details><summary>{h(tr('previous runs'))}</summary><ul>{rows}</ul></details>"


def _ended(summary: dict) -> str:
    """How a previous run ended ("running" in a Lab's summary is a run switched away from)."""
    status = summary["status"]
    if status == "halted":
        return tr("halted (exit code {code})").format(code=summary["exit_code"])
    return (tr("switched away before the end") if status == "running" else
            tr("error {error}").format(error=status))


class LabWidget(W.VBox):
    """The whole lab in one UI: controls, strategy toggle, CPU and code views, then tabs with the
    trap log, diagram, console, VMCS, translation cache and memory, and the previous runs. A
    ``VBox``: display it, or put it in any ipywidgets layout."""

    TABS = (N_("Trap log"), N_("Diagram"), N_("Console"), "VMCS", N_("Translations"),
            N_("Memory"))

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
                                    self.translations, self.memory],
                          titles=[tr(t) for t in self.TABS])
        # CPU and code side by side when there is room, one under the other when not
        self.cpu.layout = W.Layout(flex="1 1 22em", min_width="0")
        self.code.layout = W.Layout(flex="1 1 26em", min_width="0")
        super().__init__(children=[self.controls, self.strategy,
                                   W.HBox([self.cpu, self.code],
                                          layout=W.Layout(flex_flow="row wrap", width="100%")),
                                   self.tabs, self.history], **kwargs)
        self.add_class("vlab-lab")
        follow_language(self)  # (the tab titles; each view follows the language itself)

    def language_changed(self) -> None:
        """``vlab.set_language`` switched: the tab titles in the new language (each view
        redraws itself)."""
        self.tabs.titles = [tr(t) for t in self.TABS]

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
        forget_language(self)
        super().close()


def static_html(lab: Lab) -> str:
    """A static snapshot of the lab, for front ends where widgets are not live."""
    from .views import VMX_MODES

    st = lab.state()
    regs = " ".join(f"{r.upper()}={getattr(st, r):#010x}" for r in REGISTERS)
    counts = (", ".join(reason_html(k, f"{k} {v:,}") for k, v in lab.trace.counts().items())
              or h(tr("none")))
    return (f"<div class='vlab-static' style='{BLOCK}'><b>vlab</b>: "
            + h(tr("{guest} under {strategy}").format(guest=lab.guest, strategy=lab.strategy_name))
            + f" &middot; {state_html(*run_state(lab, None))} &middot; "
            + h(tr("{count} instructions").format(count=f"{st.instructions:,}")) + "<br>"
            f"<code style='{WRAP}'>{h(regs)}</code><br>"
            + h(tr("CPL {cpl}, VMX {mode}; exits: {exits}")).format(
                cpl=st.cpl, mode=h(tr(VMX_MODES.get(st.vmx_mode, st.vmx_mode))), exits=counts)
            + "<pre style='white-space:pre-wrap;text-align:left'>"
            f"{h(lab.console[-2000:])}</pre></div>")
