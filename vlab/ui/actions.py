"""What the controls do to a Lab: step, run (in the background), switch... The only part of
vlab.ui that changes the Lab; views only read it."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from vlab.monitor.trace import ExitReason

from ..errors import VlabError
from ..events import Signal
from .base import action, h, lab_lock

if TYPE_CHECKING:
    from ..lab import Lab


class LabActions:
    """The actions the lab's controls offer on one Lab. Each action runs under the Lab's lock
    as one batch (views redraw once, after it); its outcome is in :attr:`message` and
    :attr:`changed` fires after it (and when a background run starts or ends)."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.message = ""  # HTML: an action that failed (an error), else empty
        self.running = False  # a background run is under way
        self.speed = 5  # a background run goes in slices of 10 ** speed instructions
        self.changed: Signal[LabActions] = Signal("actions_changed")
        self._thread: threading.Thread | None = None

    @property
    def chunk(self) -> int:
        """Instructions per background slice: 10 ** speed."""
        return 10 ** self.speed

    def act(self, fn: Callable[[], Any]) -> None:
        """Run one action on the Lab (refused during a background run), then redraw once."""
        if self.running:
            return
        with action(self.lab):
            try:
                fn()  # how it ended, the Lab tells its observers ("stopped")
                self.message = ""
            except VlabError as e:  # the guest's own error is the Lab's status; others are said here
                self.message = "" if e is self.lab.error else _error(e)
            self.changed.emit(self)

    # ---------------------------------------------------------------- the actions
    def step(self) -> None:
        """Execute one guest instruction."""
        self.act(self.lab.step)

    def step_over(self) -> None:
        """Step, but run a CALL through to its return address."""
        def over():
            insns = self.lab.disassemble(self.lab.state().eip, 1)
            if insns and insns[0].mnemonic == "call":
                return self.lab.run(until=insns[0].address + insns[0].size)
            return self.lab.step()
        self.act(over)

    def step_back(self) -> None:
        """Undo the last step."""
        self.act(self.lab.step_back)

    def run_to_exit(self) -> None:
        """Run until the monitor handles the next exit, whatever its reason."""
        def to_exit():
            breakpoints = self.lab.exit_breakpoints
            saved = set(breakpoints)
            breakpoints.update(ExitReason)
            try:
                return self.lab.run()
            finally:
                breakpoints.clear()
                breakpoints.update(saved)
        self.act(to_exit)

    def reset(self) -> None:
        """Reboot the guest under the same strategy."""
        self.act(self.lab.reset)

    def add_breakpoint(self, text: str) -> None:
        """A breakpoint at an address (``0x...``) or a label."""
        self.act(lambda: self.lab.add_breakpoint(_address(text)))

    def break_on_exit(self, reason: str | None) -> None:
        """Stop after exits of this reason only (None: no exit breakpoint)."""
        def set_it():
            self.lab.exit_breakpoints.clear()
            if reason is not None:
                self.lab.break_on_exit(reason)
        self.act(set_it)

    def break_on_mode_change(self, on: bool) -> None:
        """Stop whenever the guest changes ring (or not)."""
        self.act(lambda: setattr(self.lab, "break_on_mode_change", on))

    def switch(self, strategy: str, **options) -> None:
        """Reboot the guest under another strategy (or the same one with other options)."""
        self.act(lambda: self.lab.switch(strategy, **options))

    # ---------------------------------------------------------------- in the background
    def toggle_run(self) -> None:
        """Run in the background (the notebook stays responsive), or pause."""
        if self.running:
            self.running = False
            return
        self.running = True
        self.message = ""
        self._announce()
        self._thread = threading.Thread(target=self._background, daemon=True)
        self._thread.start()

    def _background(self) -> None:
        lock = lab_lock(self.lab)
        try:
            while self.running:
                with lock:  # views redraw from this thread between slices, throttled
                    try:
                        stop = self.lab.run(max_instructions=self.chunk)
                    except VlabError as e:
                        self.message = "" if e is self.lab.error else _error(e)
                        break
                if stop.reason != "limit":
                    break
                time.sleep(0)  # let a waiting redraw or click take the lock
        finally:
            self.running = False
            self._announce()  # and the last slice's stop, if it came inside the throttle interval

    def _announce(self) -> None:
        """Tell the controls (``changed``) as one action: they redraw now, not throttled."""
        with action(self.lab):
            self.changed.emit(self)

    def wait(self, timeout: float = 30) -> None:
        """Wait for a background run to end (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)


def _error(e: VlabError) -> str:
    return f"<span style='color:#d62728'><b>{type(e).__name__}</b>: {h(e)}</span>"


def _address(text: str) -> int | str:
    text = text.strip()
    try:
        return int(text, 0)
    except ValueError:
        return text
