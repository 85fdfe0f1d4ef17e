"""The controls: buttons, breakpoints and speed, and the strategy toggle. They act on the Lab
through :class:`~vlab.ui.actions.LabActions`; what they draw they only read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as W

from vlab.i18n import N_, tr
from vlab.monitor.trace import ExitReason

from .actions import LabActions
from .base import LabView, h
from .trap_log import reason_text

if TYPE_CHECKING:
    from ..hw.clock import Stop
    from ..lab import Lab

STRATEGY_LABELS = {"native": N_("native"), "trap_emulate": N_("trap-and-emulate"),
                   "binary_translation": N_("binary translation"), "vtx": "VT-x",
                   "paravirt": N_("paravirt")}
#: What each strategy is, on hover over its button.
STRATEGY_TIPS = {
    "native": N_("the guest kernel owns the machine at ring 0: no monitor"),
    "trap_emulate": N_("the guest kernel runs deprivileged at ring 1; the monitor emulates what "
                       "traps (and misses the holes)"),
    "binary_translation": N_("the guest kernel's code is translated block by block: sensitive "
                             "instructions become inline emulation or callouts"),
    "vtx": N_("hardware assistance: the guest runs in VMX non-root mode and exits as the VMCS "
              "controls choose"),
    "paravirt": N_("a modified guest kernel at ring 1 asks the hypervisor through hypercalls"),
}
NO_EXIT_BREAKPOINT = "(none)"
#: The guest's states as the status line names them (the state word is translated, its key not).
STATE_WORDS = {"ready": N_("ready"), "running": N_("running"), "paused": N_("paused"),
               "halted": N_("halted"), "error": N_("error")}
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
        return tr("after the {reason} exit at {eip}, next at {where}").format(
            reason=reason_text(e.reason), eip=f"{e.eip:#010x}", where=where)
    if stop.reason == "breakpoint":
        return tr("breakpoint at {where}").format(where=where)
    if stop.reason == "mode_change":
        return tr("ring change ({change}) at {where}").format(change=stop.detail, where=where)
    if stop.reason == "limit":
        return tr("instruction limit reached at {where}").format(where=where)
    if stop.reason == "step":
        return tr("one step, next at {where}").format(where=where)
    return tr("{reason} at {where}").format(reason=stop.reason, where=where)


def run_state(lab: Lab, stop: Stop | None, running: bool = False) -> tuple[str, str]:
    """The guest's one status: (state, what it means). State is "running" (a background run
    is under way), "halted" (it left through the exit device), "error", "paused" (stopped
    after a step, a breakpoint, an exit ... with ``stop`` the latest) or "ready" (not started).
    The Lab's own ``status`` says "running" for anything not halted; this says what a student
    sees."""
    if running:
        return "running", tr("in the background")
    if lab.error is not None:
        return "error", tr("{error}: {message} (Reset to start again)").format(
            error=type(lab.error).__name__, message=lab.error)
    if lab.exit_code is not None:
        return "halted", tr("exit code {code} at {eip}").format(code=lab.exit_code,
                                                                eip=f"{lab.state().eip:#010x}")
    if stop is not None:
        return "paused", describe_stop(stop)
    if lab.instructions == 0:
        return "ready", tr("not started, at {eip}").format(eip=f"{lab.state().eip:#010x}")
    return "paused", tr("at {eip}").format(eip=f"{lab.state().eip:#010x}")


def state_html(state: str, meaning: str) -> str:
    """The status line: the state word in its colour, then what it means."""
    return (f"<span class='vlab-state' style='font-weight:bold;color:{STATE_COLOURS[state]}'>"
            f"{h(tr(STATE_WORDS[state]))}</span> &middot; {h(meaning)}")


#: The buttons: (name, label, what it does on hover).
BUTTONS = (("step", N_("Step"), N_("execute one guest instruction")),
           ("over", N_("Step over"), N_("step, but run a CALL through to its return")),
           ("back", N_("Step back"), N_("undo the last step")),
           ("run", N_("Run"), N_("run in the background (the notebook stays responsive)")),
           ("exit", N_("Run to next exit"), N_("run until the monitor handles the next exit")),
           ("reset", N_("Reset"), N_("reboot the guest under the same strategy")))


class Controls(LabView, W.VBox):
    """Step, step over, step back, run/pause (in the background), run to next exit, reset;
    breakpoints (address or label, exit reason, ring change); speed; the instruction counter and
    how the last action ended."""

    css = "vlab-controls"

    def __init__(self, lab: Lab, actions: LabActions | None = None, **kwargs):
        self.actions = actions = actions or LabActions(lab)
        b = {}
        does = {"step": actions.step, "over": actions.step_over, "back": actions.step_back,
                "run": actions.toggle_run, "exit": actions.run_to_exit, "reset": actions.reset}
        for name, _label, _tip in BUTTONS:
            b[name] = W.Button(layout=W.Layout(**NATURAL))
            b[name].add_class(f"vlab-{name if name != 'over' else 'step-over'}")
            b[name].on_click(lambda _, do=does[name]: do())
        self.buttons = b
        self.bp = W.Text(layout=W.Layout(width="14em", flex="0 0 auto"))
        self.bp.add_class("vlab-bp")
        self.add_bp = W.Button(layout=W.Layout(**NATURAL))
        self.add_bp.add_class("vlab-add-bp")
        self.add_bp.on_click(lambda _: actions.add_breakpoint(self.bp.value))
        self.exit_bp = W.Dropdown(options=self._exit_options(), value=NO_EXIT_BREAKPOINT,
                                  style={"description_width": "auto"},
                                  layout=W.Layout(width="20em", flex="0 1 auto"))
        self.exit_bp.observe(self._exit_bp, names="value")
        self.ring_bp = W.Checkbox(indent=False, layout=W.Layout(**NATURAL))
        self.ring_bp.observe(self._ring_bp, names="value")
        self.speed = W.IntSlider(value=actions.speed, min=1, max=7,
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

    @staticmethod
    def _exit_options() -> list[tuple[str, str]]:
        return [(tr("(none)"), NO_EXIT_BREAKPOINT)] + [(r.name, r.name) for r in ExitReason]

    def _label(self) -> None:
        """Every label and tooltip, in the current language."""
        for name, label, tip in BUTTONS:
            self.buttons[name].description, self.buttons[name].tooltip = tr(label), tr(tip)
        if self.actions.running:
            self.buttons["run"].description = tr("Pause")
            self.buttons["run"].tooltip = tr("pause the background run")
        self.bp.placeholder = tr("address or label")
        self.add_bp.description = tr("+ breakpoint")
        self.add_bp.tooltip = tr("stop when EIP reaches this address or label")
        options = self._exit_options()
        if list(self.exit_bp.options) != options:
            value = self.exit_bp.value
            self.exit_bp.options = options
            self.exit_bp.value = value
        self.exit_bp.description = tr("break on exit")
        self.exit_bp.tooltip = tr("stop after every exit of this reason")
        self.ring_bp.description = tr("break on ring change")
        self.speed.description = tr("speed")
        self.speed.tooltip = tr("a background run goes in slices of 10^speed "
                                            "instructions")

    def draw(self) -> None:
        lab = self.lab
        self._label()
        self.counter.value = tr("{count} instructions").format(count=f"{lab.instructions:,}")
        self.status.value = (state_html(*run_state(lab, self._stop, self.actions.running))
                             + (f" &middot; {self.actions.message}" if self.actions.message else ""))
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
            options=self._options_labels(), value=lab.strategy_name,
            style={"button_width": "auto"}, layout=W.Layout(width="auto", flex="0 1 auto"))
        self.buttons.add_class("vlab-strategy")
        self.buttons.observe(self._switch, names="value")
        self.ept = W.Checkbox(value=lab.ept_enabled is not False, description="EPT (VT-x)",
                              indent=False, layout=W.Layout(**NATURAL))
        self.ept.add_class("vlab-ept")
        self.ept.observe(self._ept, names="value")
        super().__init__(lab, children=[self.buttons, self.ept],
                         layout=W.Layout(flex_flow="row wrap", align_items="center"), **kwargs)
        self._observe(self.actions.changed)  # a refused or failed switch: show the strategy again

    def _options_labels(self) -> list[tuple[str, str]]:
        return [(tr(STRATEGY_LABELS.get(n, n)), n) for n in self.available]

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
        labels = self._options_labels()
        if list(self.buttons.options) != labels:  # (the language changed)
            self.buttons.options = labels
        self.buttons.tooltips = [tr(STRATEGY_TIPS[n]) if n in STRATEGY_TIPS else ""
                                 for n in self.available]
        self.ept.tooltip = tr("extended page tables: on, the hardware walks the "
                                          "guest's tables and the EPT; off, the monitor keeps "
                                          "shadow page tables")
        self.buttons.value = self.lab.strategy_name
        # The box means something only under a strategy that can use EPT: shown there only
        # (hidden, it keeps its choice for the next switch to that strategy)
        self.ept.layout.display = None if self.lab.ept_enabled is not None else "none"
        if self.lab.ept_enabled is not None:
            self.ept.value = self.lab.ept_enabled
