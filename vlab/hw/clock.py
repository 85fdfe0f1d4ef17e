"""Virtual time and the run loop: slices of guest execution between deadlines.

Virtual time is guest instructions retired (plus time skipped while halted). The run loop cuts a
run into *slices*: one ``emu_start`` each, exactly as long as the nearest deadline allows (the
caller's limit, the instruction budget, the next timer tick), so an interrupt arrives at the same
guest instruction under every strategy. Between slices it services the machine: the timer ticks,
a pending interrupt is delivered if the guest can take it, a halted guest skips ahead to its next
interrupt. Unicorn's ``count=`` mode counts the instructions of a slice; only when nothing can
observe time (no budget and the timer stopped: a masked timer still latches its request in the
PIC, which the guest sees the moment it unmasks) does the core run free at full speed, and then
``instructions`` does not advance.

A hook that must stop the slice (a breakpoint, a fault the monitor wants to see at once, an
error) calls :meth:`Clock.request_stop` or :meth:`Clock.fail`; the counter then says exactly how
many instructions the slice retired.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import unicorn

from vlab import layout
from vlab.errors import BudgetExhausted, GuestFault, GuestHang, InvalidOpcode, UnmappedAccess, VlabError

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

IRQ_POLL = 64  # while an interrupt waits for IF (running free), the PIC is sampled this often
#: Stop reasons that only end a slice so that the run loop re-plans (never returned to a caller).
INTERNAL_STOPS = frozenset({"resample", "hlt", "deferred"})
MAX_COUNTED_SLICE = 2_000_000  # instructions: a counted slice hands control back this often


@dataclass(frozen=True)
class Stop:
    """Why a ``run()`` or ``step()`` returned."""

    reason: str  # "halted" | "breakpoint" | "mode_change" | "exit" | "limit" | "step"
    eip: int
    detail: Any = None

    def __str__(self) -> str:
        extra = f" ({self._detail_text()})" if self.detail is not None else ""
        return f"{self.reason} at {self.eip:#010x}{extra}"

    def __repr__(self) -> str:  # (what a notebook shows for `lab.run()`: addresses in hex)
        detail = f", detail={self._detail_text()!r}" if self.detail is not None else ""
        return f"Stop(reason={self.reason!r}, eip={self.eip:#010x}{detail})"

    def _detail_text(self) -> str:
        d = self.detail
        if isinstance(d, int) and not isinstance(d, bool):
            return f"{d:#010x}" if self.reason == "breakpoint" else str(d)
        reason, eip = getattr(d, "reason", None), getattr(d, "eip", None)
        if reason is not None and isinstance(eip, int):  # an exit: its reason and where
            return f"{getattr(reason, 'name', reason)} at {eip:#010x}"
        return str(d)


#: A single step's stop detail when its instruction faulted into a guest handler.
EXCEPTION_DELIVERED = "exception delivered"


@dataclass
class Slice:
    """The bookkeeping of one ``emu_start`` (hooks inside it update these fields)."""

    counting: bool = False  # counted (count=N): every instruction passes Unicorn's hook helper
    exact: bool = False  # instructions are counted (count=N, or the native block counter)
    at_deadline: bool = False  # (the native block counter) the slice ran to its deadline
    watching: bool = False  # an interrupt waits for IF: every instruction is looked at
    uncounted: int = 0  # counted by Unicorn but not retired by the guest (faults, trampoline)
    stop_counted: bool = False  # the counter was read when the stop was requested
    stop_executed: int = 0
    stop_req: tuple[str, Any] | None = None
    error: VlabError | None = None
    unmapped: tuple[int, int, bool] | None = None  # (address, size, fetch)
    fetch_miss: int | None = None  # a fetch from RAM a monitor maps on first touch (or an
    miss_access: str = "fetch"  # access the monitor handles once the core has stopped)
    skip_bp: int | None = None  # resuming from this breakpoint: let it execute once
    skipped: tuple[int, int] | None = None  # (address, counter) of that one execution
    prev_eip: int | None = None  # (watching for IF) the instruction that ran last
    shadow: int | None = None  # (watching for IF) IF is set: instructions to run before the IRQ
    fault_eip: int | None = None  # the last fault's EIP, and the count of instructions
    fault_progress: int | None = None  # retired by then (the same again: no progress)
    fault_streak: int = 0


class Clock:
    """Owns virtual time, the run loop and the state of a run (halted, failed, last fault)."""

    def __init__(self, machine: Machine, budget: int | None):
        self._m = machine
        self.budget = budget
        self.slice: Slice | None = None  # while a slice runs
        self.reset()

    def reset(self) -> None:
        self.instructions = 0
        self.vtime = 0
        self.halted = False
        self.failed: VlabError | None = None
        self.fault_eip: int | None = None
        self.fault_software = False
        self.fault_text_if_known: str | None = None
        self.last_cpl = 0
        self.pending_stop: tuple[str, Any] | None = None
        self.deferred_eip: int | None = None
        self.deferred_fault: tuple[int, int] | None = None  # (vector, error code)
        self.trampoline_ring: int | None = None
        self.counted_last = True  # were the core's translated blocks made by a counted slice?
        #: instructions that must still run before a pending interrupt may be taken (STI's
        #: shadow, carried from one slice to the next so that stepping equals running)
        self.irq_wait = 0
        self.faults = 0  # exceptions the core raised (a data breakpoint's step must not fault)
        #: A user's single step: one that ends in an exception stops at the handler's entry,
        #: as a debugger's does (Bochs' "s"), instead of running the handler's first instruction.
        self.stepping = False
        self.interrupted = False  # Ctrl-C arrived: stop at the next instruction boundary

    # ------------------------------------------------------------------ what hooks may ask
    @property
    def fault_text(self) -> str | None:
        """The instruction at the last fault (decoded only when an error message needs it)."""
        if self.fault_text_if_known is not None:
            return self.fault_text_if_known
        if self.fault_eip is None or self.fault_software:
            return None
        return self._m.instruction_text(self.fault_eip)

    @property
    def in_slice(self) -> bool:
        return self.slice is not None

    @property
    def counting(self) -> bool:
        """Is the current slice counting instructions (so every instruction passes Unicorn's
        hook helper, and a hook added now takes effect at once)?"""
        return self.slice is not None and self.slice.counting

    def progress(self) -> int:
        """Instructions the guest retired so far in the current slice."""
        s = self.slice
        return max(0, self._m.core.counter.value - s.uncounted) if s is not None else 0

    def request_stop(self, reason: str, detail: Any = None, adjust: int = 0) -> None:
        """From inside a hook: stop the slice after the current point.

        ``adjust`` corrects Unicorn's counter, which has already counted the instruction being
        hooked: -1 when that instruction has not executed (breakpoints), 0 when it has.
        Internal reasons (:data:`INTERNAL_STOPS`) only end the slice so that the run loop
        re-plans; a visible reason (breakpoint, exit, ...) is returned to the caller.
        Outside a slice the stop is returned when the current call ends.
        """
        s = self.slice
        if s is None:
            if reason not in INTERNAL_STOPS and self.pending_stop is None:
                self.pending_stop = (reason, detail)
            return
        if not s.stop_counted:
            s.stop_counted = True
            s.stop_executed = self._m.core.counter.value + adjust
        if reason not in INTERNAL_STOPS and s.stop_req is None:
            s.stop_req = (reason, detail)
        self._m.core.uc.emu_stop()

    def fail(self, error: VlabError) -> None:
        """From inside a hook: end the slice with ``error`` (raised when the slice returns)."""
        s = self.slice
        if s is None:  # (the trampoline, run outside a slice, checks the CPL it reached)
            self._m.core.uc.emu_stop()
            return
        if s.error is None:
            s.error = error
            if not s.stop_counted:
                s.stop_counted = True
                s.stop_executed = self._m.core.counter.value
        self._m.core.uc.emu_stop()

    def resample(self) -> None:
        """Something the interrupt logic depends on changed: end the slice after this instruction
        (from a code hook that leaves EIP where it is: before the hooked instruction)."""
        if self.slice is not None:
            blocks = self._m.core.blocks
            before = blocks is not None and blocks.hooked is not None \
                and self._m.cpu.eip == blocks.hooked
            self.request_stop("resample", adjust=-1 if before else 0)

    def step_ends_at_handler(self, eip: int, retired: bool = False) -> bool:
        """Does a single step whose instruction at ``eip`` faulted end now, at the handler the
        exception was delivered to (before its first instruction, as a debugger's step)? Not
        when a monitor emulated the instruction (it ``retired``: an ordinary step), nor for a
        fault fixed unseen (a hidden page fault: the instruction is retried, EIP unchanged).
        (The monitor's trampoline, if armed, still runs: the slice's end finishes it.)"""
        return self.stepping and not retired and self._m.cpu.eip != eip

    def retire(self) -> None:
        """A monitor emulated the trapping instruction: it counts as retired, once."""
        if self.slice is not None:
            self.slice.uncounted -= 1

    def unretire(self) -> None:
        """The instruction the core has counted faulted instead: it did not retire."""
        if self.slice is not None:
            self.slice.uncounted += 1

    def halt(self) -> None:
        """Enter the HLT state (a monitor emulated HLT): time skips to the next interrupt."""
        self.halted = True
        self.request_stop("hlt")

    def defer_eip(self, eip: int) -> None:
        """Set EIP once the current instruction hook has returned (inside an IN/OUT hook an EIP
        write would make Unicorn count the next instruction twice)."""
        if self.slice is not None:
            self.deferred_eip = eip
            self.request_stop("deferred")
        else:
            self._m.cpu.set_reg("eip", eip)

    def defer_fault(self, vector: int, error_code: int | None) -> None:
        """From inside an IN/OUT hook (where the core cannot raise one): the instruction at EIP
        faults instead of completing; the fault is delivered once the hook has returned."""
        eip = self._m.cpu.eip
        self.deferred_fault = (vector, error_code)
        self.fault_eip, self.fault_software = eip, False
        if self.slice is not None:
            self.slice.uncounted += 1  # a faulting instruction does not retire
            self.deferred_eip = eip
            self.request_stop("deferred")
        else:
            self._deliver_deferred_fault()

    def _deliver_deferred_fault(self) -> None:
        vector, error_code = self.deferred_fault
        self.deferred_fault = None
        try:
            self._m.monitor.interrupt(vector, error_code, False)
        except VlabError as e:
            self.failed = e
            raise
        self.note_cpl()

    def trampoline_armed(self, ring: int) -> None:
        """The CPU was sent through the monitor's trampoline to ``ring``: inside a slice its
        IRETD runs as part of the slice (not counted as the guest's); outside, at once."""
        self.trampoline_ring = ring
        if self.slice is not None:
            self.slice.uncounted += 1
            return
        self._m.cpu.run_trampoline(ring)
        self.trampoline_ring = None

    def note_cpl(self) -> None:
        """The CPL may have changed (an event was delivered): stop if someone watches."""
        cpl = self._m.cpu.cpl()
        if cpl != self.last_cpl:
            if self._m.break_on_mode_change:
                self.request_stop("mode_change", f"CPL {self.last_cpl} -> {cpl}")
            self.last_cpl = cpl

    # ------------------------------------------------------------------ the run loop
    def run(self, max_instructions: int | None) -> Stop:
        """Slices until a stop, ``max_instructions`` more (reason "limit"), or an error.

        Ctrl-C (SIGINT, a notebook's interrupt) stops the run between two instructions and
        raises KeyboardInterrupt from here: the machine is consistent and may run on."""
        if threading.current_thread() is not threading.main_thread() or (
                max_instructions is not None and max_instructions <= MAX_COUNTED_SLICE):
            return self._run(max_instructions)  # (a short run is back in Python soon anyway)
        self.interrupted = False

        def interrupt(signum, frame):  # (runs once the core hands control back to Python)
            self.interrupted = True
            self._m.core.uc.emu_stop()

        # Python runs a signal handler only between two bytecodes, and a guest running free
        # may stay in the core for minutes: the C-level handler also writes the signal's
        # number to a pipe, where a watchdog thread stops the core at once (Unicorn's stop is
        # safe from another thread; it is how its own timeouts work).
        previous = signal.signal(signal.SIGINT, interrupt)
        r, w = os.pipe()
        os.set_blocking(w, False)
        wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        watchdog = threading.Thread(target=self._watch_signals, args=(r,), daemon=True)
        watchdog.start()
        try:
            return self._run(max_instructions)
        finally:
            signal.set_wakeup_fd(wakeup)
            os.write(w, b"\0")  # (no signal is number 0: the watchdog's cue to end)
            watchdog.join()
            os.close(r)
            os.close(w)
            signal.signal(signal.SIGINT, previous)

    def _watch_signals(self, fd: int) -> None:
        while True:
            signals = os.read(fd, 64)
            if not signals or 0 in signals:
                return
            if signal.SIGINT in signals:
                self._m.core.uc.emu_stop()

    def _run(self, max_instructions: int | None) -> Stop:
        m = self._m
        if self.failed is not None:
            raise VlabError(f"the machine stopped with {type(self.failed).__name__}: "
                            f"{self.failed}; call reset() to start again")
        if m.exit_code is not None:
            return Stop("halted", m.cpu.eip, m.exit_code)
        limit = None if max_instructions is None else self.instructions + max_instructions
        # resuming from a breakpoint: it lets the instruction run once, also when a slice ends
        # before it could (a monitor re-planning: the guest has not moved yet)
        resume_at, resume_count = m.cpu.eip, self.instructions
        while True:
            if self.interrupted:
                self.interrupted = False
                raise KeyboardInterrupt(f"the guest was interrupted at EIP={m.cpu.eip:#010x} "
                                        f"after {self.instructions:,} instructions")
            if limit is not None and self.instructions >= limit:
                return Stop("limit", m.cpu.eip)
            if self.budget is not None and self.instructions >= self.budget:
                raise BudgetExhausted(f"instruction budget of {self.budget:,} exhausted "
                                      "(a runaway guest, or raise the budget)", m.cpu.eip,
                                      m.instruction_text(m.cpu.eip))
            stop = self._service()
            if stop is not None:
                return stop
            still = m.cpu.eip == resume_at and self.instructions == resume_count
            stop = self._slice(self._slice_length(limit), skip_bp=resume_at if still else None)
            if stop is not None:
                return stop

    def _slice_length(self, limit: int | None) -> int | None:
        n = None  # (the nearest bound; None: none)
        if limit is not None:
            n = limit - self.instructions
        if self.budget is not None:
            bound = self.budget - self.instructions
            if n is None or bound < n:
                n = bound
        devices = self._m.devices
        timer, pic = devices.timer, devices.pic
        if timer.period and not (pic.mask & 1 and pic.irr & 1):  # (not _ticks_unseen())
            # (masked or not: an 8259 latches the request while masked)
            bound = max(1, timer.next_deadline - self.vtime)
            if n is None or bound < n:
                n = bound
        if self.irq_wait and (n is None or self.irq_wait < n):
            n = self.irq_wait
        if n is None:
            if not pic.irr & ~pic.mask:
                return None
            n = IRQ_POLL  # (counted slices watch IF instead)
        # counted: split at most every MAX_COUNTED_SLICE instructions (the split changes nothing
        # the guest can see) so that Ctrl-C is seen within a fraction of a second
        return max(1, min(n, MAX_COUNTED_SLICE))

    def _ticks_unseen(self) -> bool:
        """Is IRQ0 masked with its request already latched? Then further ticks change nothing
        the guest can see until it unmasks (a port write, which ends the slice): the slice need
        not end at each one, and they are counted afterwards (:meth:`_catch_up`)."""
        pic = self._m.devices.pic
        return bool(pic.mask & 1 and pic.irr & 1)

    def _catch_up(self) -> None:
        """After a slice that ran past timer deadlines unseen: count those ticks (not one that
        falls on the slice's end: the run loop ticks that before the next slice, as when the
        slice ends there)."""
        timer = self._m.devices.timer
        while timer.period and timer.next_deadline < self.vtime:
            timer.ticks += 1
            timer.next_deadline += timer.period

    def _waiting_for_if(self) -> bool:
        """Is an interrupt pending that only the guest's IF holds back (at the PIC, or in a
        monitor waiting for an interrupt window)?"""
        pic, monitor = self._m.devices.pic, self._m.monitor
        window = monitor.interrupt_window()
        if window is not None:  # (the monitor waits for the guest's IF itself: the request stays
            return window == "wait"  # in the PIC meanwhile, and "open" is served between slices)
        return bool(pic.irr & ~pic.mask) and not monitor.accepts_external_interrupt()

    def _watch_if(self, uc: unicorn.Uc, address: int, size: int, _: object) -> None:
        """Before each instruction while an interrupt waits for IF: the moment IF is set, end the
        slice so the run loop delivers it (SDM vol. 3, 6.8.3): after POPF or IRET at once, after
        STI once the next instruction has run (STI's interrupt shadow). A monitor's hook may
        already have emulated the instruction at ``address`` (EIP then points past it)."""
        s = self.slice
        if s is None or s.stop_counted or address >= layout.MONITOR_BASE:  # (the trampoline)
            return
        if s.shadow is not None:  # instructions still to run before the interrupt
            if s.shadow == 0:
                self.request_stop("resample", adjust=-1)
            s.shadow -= 1
            return
        m = self._m
        if m.monitor.interrupts_enabled():
            emulated = m.cpu.eip != address
            setter = address if emulated else s.prev_eip
            if setter is not None and m.memory.peek(setter, 1) == b"\xfb":  # STI
                s.shadow = 1 if emulated else 0
            elif emulated:
                s.shadow = 0
            else:
                self.request_stop("resample", adjust=-1)
            return
        s.prev_eip = address

    def interrupt_due(self, address: int) -> bool:
        """For a monitor's hook about to emulate the instruction at ``address``: does a pending
        interrupt come first (the guest set IF, and the slice watches for it)? Then the slice
        stops now, before the instruction."""
        s = self.slice
        if s is None or not s.watching or s.stop_counted:
            return False
        self._watch_if(None, address, 0, None)
        return s.stop_counted

    def _carry_shadow(self, s: Slice) -> None:
        """After a slice that watched for IF: how many instructions must still run before the
        pending interrupt (the slice may have ended inside STI's shadow, e.g. one step)."""
        if s.shadow is not None:
            self.irq_wait = max(0, s.shadow)
        elif s.prev_eip is not None and self._m.monitor.interrupts_enabled() \
                and self._m.memory.peek(s.prev_eip, 1) == b"\xfb":  # it ended right after STI
            self.irq_wait = 1
        else:
            self.irq_wait = 0

    def _service(self) -> Stop | None:
        """At an instruction boundary: the timer, pending interrupts, and the HLT state."""
        m = self._m
        timer, pic = m.devices.timer, m.devices.pic
        if timer.period and self.vtime >= timer.next_deadline:
            self._tick()
        if not self.irq_wait and m.monitor.interrupt_window() == "open":
            self.halted = False  # (a guest that halted with IF = 1 is woken by the exit)
            self.pending_stop = None
            m.monitor.open_interrupt_window()  # (VT-x: an interrupt-window exit, reason 7)
            self.note_cpl()
            if self.pending_stop is not None:
                return self.consume_stop()
        if m.monitor.accepts_external_interrupt() and not self.irq_wait:
            vector = pic.pending_vector()
            if vector is None and self.halted and timer.period and not pic.mask & 1 \
                    and not pic.isr:
                self.vtime = max(self.vtime, timer.next_deadline)  # HLT: skip to the next tick
                self._tick()
                vector = pic.pending_vector()
            if vector is not None:
                pic.acknowledge(vector)
                self.halted = False
                self._deliver_outside(vector)
                if self.pending_stop is not None:
                    return self.consume_stop()
        if self.halted:
            self.failed = GuestHang(
                "HLT with no interrupt that can wake it (interrupts disabled, the timer masked, "
                "or the last interrupt not acknowledged with EOI): the guest would wait forever",
                m.cpu.eip, None)
            raise self.failed
        return None

    def _tick(self) -> None:
        timer = self._m.devices.timer
        timer.ticks += 1
        while timer.next_deadline <= self.vtime:
            timer.next_deadline += timer.period
        self._m.devices.pic.raise_irq(0)

    def _deliver_outside(self, vector: int) -> None:
        """An external interrupt between slices, through whatever handles events."""
        self.pending_stop = None
        try:
            self._m.monitor.interrupt(vector, None, False)
        except VlabError as e:
            self.failed = e
            raise
        self.note_cpl()

    def consume_stop(self) -> Stop:
        """The stop requested outside a slice, as the caller's result."""
        reason, detail = self.pending_stop
        self.pending_stop = None
        return Stop(reason, self._m.cpu.eip, detail)

    def _slice(self, n: int | None, skip_bp: int | None) -> Stop | None:
        """One ``emu_start``: exactly ``n`` instructions at most (``None``: run free)."""
        m = self._m
        core = m.core
        m.segments.refresh()  # (checks accesses while a segment register is null or narrow)
        blocks = core.blocks
        s = self.slice = Slice(counting=bool(n) and blocks is None, exact=bool(n) or blocks is not None,
                               skip_bp=skip_bp)
        if blocks is None and s.counting != self.counted_last:
            # Unicorn adds its counting hook to blocks as it translates them and never revisits
            # a translated block: code translated while running free would never be counted
            # later (measured on Unicorn 2.1). Switching modes starts afresh.
            core.flush()
            self.counted_last = s.counting
        uc_error = None
        watch = None
        if s.exact and self._waiting_for_if():
            # counting with count=, every instruction already passes the core's hook helper: a
            # hook added now applies at once; counting by blocks, the code is translated anew
            watch = core.on_execute(self._watch_if)
            s.watching = True
            if blocks is not None:
                core.flush()
        regs = core.registers
        was_in_exception, regs.in_exception = regs.in_exception, False  # (see FastRegisters)
        try:
            if blocks is None:
                core.uc.emu_start(m.cpu.eip, layout.UNTIL_NEVER, 0, n or 0)
            else:
                s.at_deadline = blocks.run(m, n, done=lambda: s.stop_counted or s.error
                                           is not None or self.interrupted)
        except unicorn.UcError as e:
            uc_error = e
        finally:
            if blocks is not None:
                self.slice = None  # (nothing that runs now belongs to the slice)
                blocks.drop_deleted_hooks(m.cpu.eip)
            core.after_run()
            if watch is not None:
                core.remove_hook(watch)
                self._carry_shadow(s)
            self.slice = None
            m.hooks.after_slice()
            if m.slice_ended:
                m.slice_ended.emit(None)
            regs.in_exception = was_in_exception
        eip = regs.eip()
        trampoline = self.trampoline_ring is not None and eip == layout.TRAMPOLINE
        if trampoline:  # the slice ended before the trampoline's IRETD ran: it was not counted
            s.uncounted -= 1
        if blocks is not None:
            raw = blocks.value_at_end(eip)
            executed = s.stop_executed if s.stop_counted else raw
        else:
            raw = core.counter.value if n else 0
            if s.stop_counted:
                executed = s.stop_executed
            elif n and raw > n:
                executed = n
            else:
                executed = raw
        executed = max(0, executed - s.uncounted)
        if self.irq_wait and watch is None:
            self.irq_wait = max(0, self.irq_wait - executed)
        self.instructions += executed
        self.vtime += executed
        if self._ticks_unseen():
            self._catch_up()
        if trampoline and s.error is None and uc_error is None:
            # finish the monitor's transition before anything else looks at the guest (an
            # interrupt delivered now would otherwise interrupt the monitor, not the guest)
            m.cpu.run_trampoline(m.cpu.next_guest_entry()[0] & 3)
        self.trampoline_ring = None
        if s.fetch_miss is not None and s.error is None and uc_error is not None:
            try:  # a fetch from guest RAM the monitor maps on first touch: map, then go on
                m.monitor.unmapped_ram(s.miss_access, s.fetch_miss)
                if m.watch.active:
                    m.watch.close()  # (a data breakpoint's page comes in open)
            except VlabError as e:
                self.failed = e
                raise
            return self.consume_stop() if self.pending_stop is not None else None
        if m.watch.hit and s.error is None and uc_error is not None:
            return self._watched_access()
        if s.error is None and uc_error is not None:
            s.error = self._error_of(uc_error, s)
        if s.error is not None:
            if not isinstance(s.error, BudgetExhausted):
                self.failed = s.error
            raise s.error
        if self.deferred_eip is not None:
            m.cpu.set_reg("eip", self.deferred_eip)
            self.deferred_eip = None
        if self.deferred_fault is not None:
            self._deliver_deferred_fault()
            if s.stop_req is None and self.step_ends_at_handler(self.fault_eip):
                return Stop("step", m.cpu.eip, EXCEPTION_DELIVERED)
        if s.stop_req is not None:
            reason, detail = s.stop_req
            return Stop(reason, m.cpu.eip, detail)
        if not s.stop_counted and not s.at_deadline and (n is None or raw <= n) \
                and not self.interrupted and self._after_hlt():
            self.halted = True
            try:
                m.monitor.hlt()
            except VlabError as e:
                self.failed = e
                raise
            if self.pending_stop is not None:  # (an exit breakpoint on the HLT exit)
                return self.consume_stop()
        return None

    def _watched_access(self) -> Stop | None:
        """The core stopped before an access to a page holding a data breakpoint: run that
        instruction, then raise #DB (a trap: EIP after it) if it touched a watched range."""
        m = self._m
        touched = m.watch.step()
        if self.pending_stop is not None:
            return self.consume_stop()
        if touched:
            m.cpu.set_reg("dr6", (m.cpu.reg("dr6") & ~0xF) | touched)
            self.fault_eip, self.fault_software = m.cpu.eip, False
            self._deliver_outside(1)
            if self.pending_stop is not None:
                return self.consume_stop()
        return None

    def step_watched(self) -> None:
        """One instruction, for :meth:`vlab.hw.watch.DataWatch.step` (its stop, if any, is kept
        for the caller)."""
        m = self._m
        stop = self._slice(1, skip_bp=m.cpu.eip)
        if stop is not None and self.pending_stop is None:
            self.pending_stop = (stop.reason, stop.detail)

    def _after_hlt(self) -> bool:
        """Did the slice end because the guest executed HLT (the byte F4 just before EIP)?"""
        eip = self._m.cpu.eip
        return eip > 0 and self._m.memory.peek(eip - 1, 1) == b"\xf4"

    def _error_of(self, e: unicorn.UcError, s: Slice) -> VlabError:
        m = self._m
        eip = m.cpu.eip
        text = m.instruction_text(eip)
        if s.unmapped is not None:
            addr, size, fetch = s.unmapped
            what = "fetch from" if fetch else "access to"
            return UnmappedAccess(f"{what} {addr:#010x} ({size} bytes) outside guest RAM "
                                  f"({m.memory.ram_size:#x} bytes)", addr, eip, text)
        if e.errno == unicorn.UC_ERR_INSN_INVALID:
            return InvalidOpcode("invalid opcode", eip, text or m.hex_bytes(eip))
        return GuestFault(f"the core stopped: {e}", eip, text)

