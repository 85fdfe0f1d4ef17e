"""The controls: buttons, breakpoints and speed, and the strategy toggle. They act on the Lab
through :class:`~vlab.ui.actions.LabActions`; what they draw they only read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as W

from vlab.monitor.trace import ExitReason

from .actions import LabActions
from .base import LabView, h
from .trap_log import reason_text

if TYPE_CHECKING:
    from ..hw.clock import Stop
    from ..lab import Lab

STRATEGY_LABELS = {"native": "native", "trap_emulate": "trap-and-emulate",
                   "binary_translation": "binary translation", "vtx": "VT-x", "paravirt": "paravirt"}
NO_EXIT_BREAKPOINT = "(none)"
#: Colour of each state of the guest in the status line.
STATE_COLOURS = {"ready": "#1f77b4", "running": "#2ca02c", "paused": "#ff7f0e",
                 "halted": "#555", "error": "#d62728"}
#: A control that keeps its natural size (its label whole) and wraps to the next row instead.
NATURAL = {"width": "auto", "flex": "0 0 auto"}


def describe_stop(stop: Stop) -> str:
    """Why a run or step returned, in words, addresses in hex."""
    where = f"{stop.eip:#010x}"
    if stop.reason == "exit" and stop.detail is not None:
        e = stop.detail
        return f"after the {reason_text(e.reason)} exit at {e.eip:#010x}, next at {where}"
    if stop.reason == "breakpoint":
        return f"breakpoint at {where}"
    if stop.reason == "mode_change":
        return f"ring change ({stop.detail}) at {where}"
    if stop.reason == "limit":
        return f"instruction limit reached at {where}"
    if stop.reason == "step":
        return f"one step, next at {where}"
    return f"{stop.reason} at {where}"


def run_state(lab: Lab, stop: Stop | None, running: bool = False) -> tuple[str, str]:
    """The guest's one status: (state, what it means). State is "running" (a background run
    is under way), "halted" (it left through the exit device), "error", "paused" (stopped
    after a step, a breakpoint, an exit ... with ``stop`` the latest) or "ready" (not started).
    The Lab's own ``status`` says "running" for anything not halted; this says what a student
    sees."""
    if running:
        return "running", "in the background"
    if lab.error is not None:
        return "error", f"{type(lab.error).__name__}: {lab.error} (Reset to start again)"
    if lab.exit_code is not None:
        return "halted", f"exit code {lab.exit_code} at {lab.state().eip:#010x}"
    if stop is not None:
        return "paused", describe_stop(stop)
    if lab.instructions == 0:
        return "ready", f"not started, at {lab.state().eip:#010x}"
    return "paused", f"at {lab.state().eip:#010x}"


def state_html(state: str, meaning: str) -> str:
    """The status line: the state word in its colour, then what it means."""
    return (f"<span class='vlab-state' style='font-weight:bold;color:{STATE_COLOURS[state]}'>"
            f"{state}</span> &middot; {h(meaning)}")


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
            b[name] = W.Button(description=label, layout=W.Layout(**NATURAL))
            b[name].add_class(f"vlab-{name if name != 'over' else 'step-over'}")
            b[name].on_click(lambda _, do=do: do())
        self.buttons = b
        self.bp = W.Text(placeholder="address or label", layout=W.Layout(width="14em", flex="0 0 auto"))
        self.bp.add_class("vlab-bp")
        self.add_bp = W.Button(description="+ breakpoint", layout=W.Layout(**NATURAL))
        self.add_bp.add_class("vlab-add-bp")
        self.add_bp.on_click(lambda _: actions.add_breakpoint(self.bp.value))
        self.exit_bp = W.Dropdown(options=[NO_EXIT_BREAKPOINT] + [r.name for r in ExitReason],
                                  description="break on exit", style={"description_width": "auto"},
                                  layout=W.Layout(width="20em", flex="0 1 auto"))
        self.exit_bp.observe(self._exit_bp, names="value")
        self.ring_bp = W.Checkbox(description="break on ring change", indent=False,
                                  layout=W.Layout(**NATURAL))
        self.ring_bp.observe(self._ring_bp, names="value")
        self.speed = W.IntSlider(value=actions.speed, min=1, max=7, description="speed",
                                 readout_format="d", style={"description_width": "auto"},
                                 layout=W.Layout(width="16em", flex="0 1 auto"))
        self.speed.observe(lambda c: setattr(actions, "speed", c["new"]), names="value")
        self.counter = W.HTML()
        self.counter.add_class("vlab-counter")
        self.status = W.HTML()
        self.status.add_class("vlab-status")
        self._stop: Stop | None = None  # how the Lab last stopped (its "stopped" event)
        wrap = W.Layout(flex_flow="row wrap", align_items="center")
        super().__init__(lab, children=[
            W.HBox([b["step"], b["over"], b["back"], b["run"], b["exit"], b["reset"], self.counter],
                   layout=wrap),
            W.HBox([self.bp, self.add_bp, self.exit_bp, self.ring_bp, self.speed], layout=wrap),
            self.status], **kwargs)
        self._observe(actions.changed)

    def _lab_changed(self, payload=None) -> None:
        if not isinstance(payload, (LabActions, str)):  # the Lab's "stopped": a Stop or None
            self._stop = payload  # (noted at once, even when the redraw is throttled)
        super()._lab_changed(payload)

    def _lab_switched(self, strategy: str) -> None:
        self._stop = None  # a reboot: ready again
        super()._lab_switched(strategy)

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
        self.counter.value = f"{lab.instructions:,} instructions"
        self.status.value = (state_html(*run_state(lab, self._stop, self.actions.running))
                             + (f" &middot; {self.actions.message}" if self.actions.message else ""))
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
            value=lab.strategy_name, style={"button_width": "auto"},
            layout=W.Layout(width="auto", flex="0 1 auto"))
        self.buttons.add_class("vlab-strategy")
        self.buttons.observe(self._switch, names="value")
        self.ept = W.Checkbox(value=lab.ept_enabled is not False, description="EPT (VT-x)",
                              indent=False, layout=W.Layout(**NATURAL))
        self.ept.add_class("vlab-ept")
        self.ept.observe(self._ept, names="value")
        super().__init__(lab, children=[self.buttons, self.ept],
                         layout=W.Layout(flex_flow="row wrap", align_items="center"), **kwargs)
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
        # The box means something only under a strategy that can use EPT: shown there only
        # (hidden, it keeps its choice for the next switch to that strategy)
        self.ept.layout.display = None if self.lab.ept_enabled is not None else "none"
        if self.lab.ept_enabled is not None:
            self.ept.value = self.lab.ept_enabled
