"""The controls: buttons, breakpoints and speed, and the strategy toggle. They act on the Lab
through :class:`~vlab.ui.actions.LabActions`; what they draw they only read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as W

from vlab.monitor.trace import ExitReason

from .actions import LabActions
from .base import LabView, h

if TYPE_CHECKING:
    from ..lab import Lab

STRATEGY_LABELS = {"native": "native", "trap_emulate": "trap-and-emulate",
                   "binary_translation": "binary translation", "vtx": "VT-x", "paravirt": "paravirt"}
NO_EXIT_BREAKPOINT = "(none)"


class Controls(LabView, W.VBox):
    """Step, step over, step back, run/pause (in the background), run to next exit, reset;
    breakpoints (address or label, exit reason, ring change); speed; the instruction counter and
    how the last action ended."""

    css = "vlab-controls"

    def __init__(self, lab: Lab, actions: LabActions | None = None, **kwargs):
        self.actions = actions = actions or LabActions(lab)
        b = {}
        for name, label, do in (("step", "Step", actions.step),
                                ("over", "Step over", actions.step_over),
                                ("back", "Step back", actions.step_back),
                                ("run", "Run", actions.toggle_run),
                                ("exit", "Run to next exit", actions.run_to_exit),
                                ("reset", "Reset", actions.reset)):
            b[name] = W.Button(description=label, layout=W.Layout(width="auto"))
            b[name].add_class(f"vlab-{name if name != 'over' else 'step-over'}")
            b[name].on_click(lambda _, do=do: do())
        self.buttons = b
        self.bp = W.Text(placeholder="address or label", layout=W.Layout(width="14em"))
        self.bp.add_class("vlab-bp")
        self.add_bp = W.Button(description="+ breakpoint", layout=W.Layout(width="auto"))
        self.add_bp.add_class("vlab-add-bp")
        self.add_bp.on_click(lambda _: actions.add_breakpoint(self.bp.value))
        self.exit_bp = W.Dropdown(options=[NO_EXIT_BREAKPOINT] + [r.name for r in ExitReason],
                                  description="break on exit", style={"description_width": "auto"})
        self.exit_bp.observe(self._exit_bp, names="value")
        self.ring_bp = W.Checkbox(description="break on ring change", indent=False)
        self.ring_bp.observe(self._ring_bp, names="value")
        self.speed = W.IntSlider(value=actions.speed, min=1, max=7, description="speed",
                                 readout_format="d", style={"description_width": "auto"})
        self.speed.observe(lambda c: setattr(actions, "speed", c["new"]), names="value")
        self.counter = W.HTML()
        self.counter.add_class("vlab-counter")
        self.status = W.HTML()
        self.status.add_class("vlab-status")
        super().__init__(lab, children=[
            W.HBox([b["step"], b["over"], b["back"], b["run"], b["exit"], b["reset"], self.counter]),
            W.HBox([self.bp, self.add_bp, self.exit_bp, self.ring_bp, self.speed]),
            self.status], **kwargs)
        self._observe(actions.changed)

    @property
    def chunk(self) -> int:
        """Instructions per background slice: 10 ** speed."""
        return self.actions.chunk

    def _exit_bp(self, change) -> None:
        if not self._drawing:
            self.actions.break_on_exit(None if change["new"] == NO_EXIT_BREAKPOINT else change["new"])

    def _ring_bp(self, change) -> None:
        if not self._drawing:
            self.actions.break_on_mode_change(change["new"])

    def draw(self) -> None:
        lab = self.lab
        self.counter.value = f"{lab.instructions:,} instructions &middot; {h(lab.status)}"
        self.status.value = self.actions.message
        self.buttons["run"].description = "Pause" if self.actions.running else "Run"
        self.ring_bp.value = lab.break_on_mode_change


class StrategyToggle(LabView, W.HBox):
    """native / trap-and-emulate / binary translation / VT-x / paravirt: switching reboots the
    guest (with the build the strategy needs) and keeps the previous run for comparison. For a
    strategy that can use EPT, the "EPT" box chooses nested paging or shadow page tables
    (first-generation VT-x hardware)."""

    css = "vlab-strategy-toggle"

    def __init__(self, lab: Lab, actions: LabActions | None = None, **kwargs):
        self.actions = actions or LabActions(lab)
        self.available = lab.available_strategies()
        self.buttons = W.ToggleButtons(
            options=[(STRATEGY_LABELS.get(n, n), n) for n in self.available],
            value=lab.strategy_name)
        self.buttons.add_class("vlab-strategy")
        self.buttons.observe(self._switch, names="value")
        self.ept = W.Checkbox(value=lab.ept_enabled is not False, description="EPT (VT-x)",
                              indent=False)
        self.ept.add_class("vlab-ept")
        self.ept.observe(self._ept, names="value")
        super().__init__(lab, children=[self.buttons, self.ept], **kwargs)
        self._observe(self.actions.changed)  # a refused or failed switch: show the strategy again

    def _options(self, strategy: str) -> dict:
        return {"ept": self.ept.value} if "ept" in self.available[strategy] else {}

    def _switch(self, change) -> None:
        if not self._drawing and change["new"] != self.lab.strategy_name:
            self.actions.switch(change["new"], **self._options(change["new"]))

    def _ept(self, change) -> None:
        lab = self.lab
        if not self._drawing and lab.ept_enabled is not None and lab.ept_enabled != change["new"]:
            self.actions.switch(lab.strategy_name, ept=change["new"])

    def draw(self) -> None:
        self.buttons.value = self.lab.strategy_name
        if self.lab.ept_enabled is not None:
            self.ept.value = self.lab.ept_enabled
