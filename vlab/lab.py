"""The Lab: the one object a notebook holds. A machine, a strategy and a trace, behind a facade.

    lab = Lab(guest="kernel", strategy="native")
    lab.run()
    print(lab.console)

``Lab(image=...)`` runs any flat 32-bit image instead: raw bytes or a ``.bin`` file are loaded at
:data:`vlab.layout.ENTRY` (1 MiB) and started there at CPL 0, in protected mode with flat segments,
ESP = :data:`vlab.layout.BOOT_STACK` and interrupts off; ``out 0xf4, al`` ends the run.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

from vlab import guests, layout, strategies
from vlab import strategies as _strategies
from vlab.compare import Comparison, Run
from vlab.errors import VlabError
from vlab.events import Signal
from vlab.hw.disk import image_from
from vlab.hw.machine import Machine, Stop
from vlab.isa import Image
from vlab.monitor.trace import ExitReason, TrapLog
from vlab.state import CpuState


class _GuestOrClass:
    """``Lab.compare([...], guest=...)`` on the class, ``lab.compare()`` on an instance."""

    def __init__(self, fn):
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj, cls):
        def bound(strategies=None, guest=None, **options):
            return self.fn(obj, strategies, guest, **options)
        bound.__doc__ = self.fn.__doc__
        return bound


class LabEvents:
    """What a Lab tells its observers (views, notebooks): it ``stopped`` (payload: the
    :class:`Stop`, or None after an error or a step back), an ``exit_recorded`` (the
    :class:`~vlab.monitor.trace.Exit`), or it ``switched`` strategy or rebooted (the strategy's name)."""

    def __init__(self) -> None:
        self.stopped: Signal[Stop | None] = Signal("stopped")
        self.exit_recorded: Signal[Any] = Signal("exit_recorded")
        self.switched: Signal[str] = Signal("switched")


class Lab:
    """A guest running under a strategy, with its console, state and trace."""

    #: Where the default view lives: the model names it but never imports it (a view package
    #: may be absent, e.g. in the grader's sandbox).
    VIEW_MODULE = "vlab.ui"

    def __init__(self, guest: str = "kernel", strategy: str = "native", *,
                 image: bytes | str | Path | Image | None = None,
                 ram_size: int = layout.DEFAULT_RAM, timer_period: int = 10_000,
                 budget: int | None = 50_000_000, strategy_options: dict | None = None,
                 disk: bytes | bytearray | str | Path | int | None = None):
        if not isinstance(guest, str):  # Lab(assemble(...)): an image given in the guest's place
            if image is not None:
                raise VlabError("give the guest by name or by image, not both")
            image = guest
        if image is not None:
            self.image = _load_image(image)
            self.guest = self.image.name
        else:
            self.image = guests.build(guest)
            self.guest = guest
        if disk is None and image is None:  # a guest that needs a disk brings its own
            disk = guests.info(guest).disk or None
        self._options = dict(ram_size=ram_size, timer_period=timer_period, budget=budget,
                             disk=None if disk is None else image_from(disk))
        self._strategy_options = dict(strategy_options or {})
        self.history: list[dict[str, Any]] = []
        self.error: VlabError | None = None
        self.wall_time = 0.0
        self.events = LabEvents()
        self._boot(strategy)

    def _boot(self, strategy: str, kept: tuple | None = None) -> None:
        cls = strategies.get(strategy)
        self.machine = Machine(**self._options)
        self.machine.load(self.image)
        self.trace = TrapLog()
        accepted = [n for n in inspect.signature(cls).parameters if n != "handlers"]
        unknown = sorted(set(self._strategy_options) - set(accepted))
        if unknown:
            raise VlabError(f"strategy {strategy!r} does not take option(s) {', '.join(unknown)}; "
                            + (f"it takes: {', '.join(accepted)}" if accepted else "it takes none"))
        self.strategy = cls(**self._strategy_options)
        self.strategy.attach(self.machine, self.trace)
        # the Lab's own signal, not a relay (no cost per exit while nobody observes)
        self.strategy.exit_recorded = self.events.exit_recorded
        self.strategy.boot()
        if kept is not None and kept[0] is self.image:  # (another image: other addresses)
            for address in kept[1]:
                self.machine.add_breakpoint(address)
            self.machine.break_on_mode_change = kept[2]
            self.strategy.exit_breakpoints.update(kept[3])
        self.error = None
        self.wall_time = 0.0
        self.events.switched.emit(strategy)

    def _debugging_state(self) -> tuple:
        """What a student set to stop the guest (breakpoints, the CPL break, exit breakpoints):
        a reset or a switch keeps it, as a debugger keeps breakpoints across a restart."""
        return (self.image, set(self.machine.breakpoints), self.machine.break_on_mode_change,
                set(self.strategy.exit_breakpoints))

    # ---------------------------------------------------------------- running
    def run(self, max_instructions: int | None = None, until: int | str | None = None) -> Stop:
        """Run until the guest halts, a breakpoint, ``until`` (address or label) or the limit."""
        return self._guarded(self.machine.run, max_instructions, self.address(until))

    def step(self) -> Stop:
        """Execute one guest instruction."""
        return self._guarded(self.machine.step)

    def step_back(self) -> None:
        """Undo the last step (reverse stepping, built on snapshots)."""
        self.machine.step_back()
        self.error = None
        self.events.stopped.emit(None)

    def _guarded(self, fn, *args):
        t0 = time.perf_counter()
        stop = None
        try:
            stop = fn(*args)
            return stop
        except VlabError as e:
            e = self._explain(e)
            self.error = e
            raise e from None
        finally:
            self.wall_time += time.perf_counter() - t0
            self.events.stopped.emit(stop)

    def _explain(self, error: VlabError) -> VlabError:
        """A paravirtual image outside its hypervisor fails at its first hypercall: say why."""
        from vlab.errors import GuestFault
        from vlab.strategies.paravirt import is_paravirtual

        if "hypercalls" not in self.strategy.capabilities and is_paravirtual(self.image.code):
            wrapped = GuestFault(
                f"this image is paravirtualized: it needs a hypervisor that implements "
                f"hypercalls (strategy 'paravirt'). Under {self.strategy.name} its hypercalls "
                f"(int 0x82) reach no hypervisor. The failure was: {error}")
            wrapped.eip = getattr(error, "eip", None)
            self.machine.clock.failed = wrapped
            return wrapped
        return error

    def reset(self) -> None:
        """Reboot the guest under the same strategy (also the way out of any error); the
        breakpoints stay set."""
        self._boot(self.strategy.name, self._debugging_state())

    def switch(self, strategy: str, **strategy_options) -> None:
        """Reboot the guest under another strategy; the previous run is kept in ``history``.
        A guest with a paravirtual build (``kernel`` / ``kernel-pv``) switches build too."""
        strategies.get(strategy)  # fail before throwing the current run away
        self.history.append(self.summary())
        kept = self._debugging_state()
        target = guests.build_for(self.guest, strategy)
        if target != self.guest:
            self.guest, self.image = target, guests.build(target)
        self._strategy_options = strategy_options
        self._boot(strategy, kept)

    # ---------------------------------------------------------------- looking
    @property
    def console(self) -> str:
        return self.machine.console

    @property
    def exit_code(self) -> int | None:
        return self.machine.exit_code

    def state(self) -> CpuState:
        return self.machine.state()

    @property
    def strategy_name(self) -> str:
        """The strategy the guest runs under now ("native", "trap_emulate", ...)."""
        return self.strategy.name

    @property
    def capabilities(self) -> frozenset[str]:
        """What the current strategy has ("virtual_cpu", "translation_cache", "vmcs",
        "shadow_paging", "ept", "hypercalls", "pv_mmu"): views show a panel only where it applies."""
        caps = set(self.strategy.capabilities)
        if "ept" in caps and not self.strategy.ept_enabled:
            caps.discard("ept")
        if self.guest_vmcs is not None:
            caps.add("guest_vmx")  # the guest is a hypervisor with a VMCS of its own
        return frozenset(caps)

    @property
    def instructions(self) -> int:
        """Guest instructions retired so far."""
        return self.machine.instructions

    @property
    def exit_breakpoints(self) -> set:
        """Exit reasons that stop a run after the monitor handles them (edit freely)."""
        return self.strategy.exit_breakpoints

    @property
    def ept_enabled(self) -> bool | None:
        """VT-x only: does the monitor use EPT (True) or shadow page tables (False)?"""
        return self.strategy.ept_enabled if "ept" in self.strategy.capabilities else None

    @property
    def handlers(self):
        """The monitor's handler table (None under native): install your own handler with
        ``lab.handlers[ExitReason.CLI] = my_cli`` or by mnemonic, ``lab.handlers["lgdt"] = ...``."""
        return self.strategy.handlers

    def set_control(self, name: str, on: bool = True) -> None:
        """VT-x only: change a VM-execution control now, by its SDM name (``"HLT_EXITING"``);
        it takes effect at once, as after a VM entry."""
        if "vmcs" not in self.strategy.capabilities:
            raise VlabError(f"{self.strategy.name} has no VMCS: VM-execution controls are VT-x's")
        self.strategy.set_control(name, on)

    @property
    def timer_ticks(self) -> int:
        """Timer interrupts raised so far (IRQ0 requests, taken or still pending)."""
        return self.machine.devices.timer.ticks

    @property
    def ram_size(self) -> int:
        """Guest RAM in bytes."""
        return self.machine.memory.ram_size

    def translation_stats(self) -> dict[str, Any] | None:
        """The translation cache's counters (binary translation only, else None)."""
        if "translation_cache" not in self.strategy.capabilities:
            return None
        return self.strategy.cache.stats()

    def read(self, where: int | str, size: int) -> bytes:
        """Guest memory at an address or label, as the guest sees it (through its page tables),
        looked at without side effects (no Accessed bit set)."""
        return self.machine.memory.peek(self.address(where), size)

    def physical_memory(self) -> bytes:
        """A copy of all guest-physical RAM (to compare two runs byte for byte)."""
        return bytes(self.machine.memory.ram)

    def read_u32(self, where: int | str) -> int:
        """A 32-bit guest value at an address or label (as the guest reads it: through its page
        tables when it pages)."""
        return self.machine.memory.read_u32(self.address(where))

    def guest_view(self) -> dict:
        """What the guest believes (CPL, IF, ...) as opposed to what the core really has."""
        return self.strategy.guest_view()

    def interrupt_state(self) -> dict[str, Any]:
        """Where the guest's interrupts are now: the PIC pair's requested and in-service IRQ
        lines and masks, the guest's IF, whether a request waits for it; under VT-x whether
        the root handler asked for an interrupt window and what the next VM entry injects;
        under paravirt the shared-info page's upcall pending and mask bytes."""
        pic = self.machine.devices.pic
        enabled = bool(self.guest_view().get("IF", self.machine.cpu.real_if()))
        state: dict[str, Any] = {
            "requested": pic.requested(), "in service": pic.in_service(),
            "masks": (pic.mask, pic.slave.mask), "guest IF": enabled,
            "waiting for IF": bool(pic.irr & ~pic.mask & 0xFF) and not enabled}
        if "vmcs" in self.capabilities:
            vmcs = self.strategy.vmcs
            state["window requested"] = vmcs.control("INTERRUPT_WINDOW_EXITING")
            info = vmcs["VM_ENTRY_INTR_INFO_FIELD"]
            state["injecting"] = info & 0xFF if info >> 31 & 1 else None
        if "hypercalls" in self.capabilities:
            from vlab.strategies.paravirt.abi import SHARED_INFO
            pending, mask = self.read(SHARED_INFO, 2)
            state["upcall pending"], state["upcall mask"] = bool(pending), bool(mask)
        return state

    @property
    def status(self) -> str:
        """"halted" once the guest left through the exit device; "error" class name after an
        error; otherwise "running" (not started or paused)."""
        if self.error is not None:
            return type(self.error).__name__
        if self.exit_code is not None:
            return "halted"
        return "running"

    def symbol(self, address: int) -> str | None:
        """The kernel label at or below ``address`` (``label+off``)."""
        return self.image.symbol_at(address)

    def address(self, where: int | str | None) -> int | None:
        """An address from an int or a label of the guest's symbol map."""
        if where is None or isinstance(where, int):
            return where
        if where in self.image.symbols:
            return self.image.symbols[where]
        raise VlabError(f"no label {where!r} in guest {self.guest!r}")

    def add_breakpoint(self, where: int | str) -> None:
        self.machine.add_breakpoint(self.address(where))

    def remove_breakpoint(self, where: int | str) -> None:
        self.machine.remove_breakpoint(self.address(where))

    def break_on_exit(self, reason: ExitReason | str) -> None:
        """Stop after the monitor handles an exit of this reason (Bochs' ``vmexitbp``)."""
        self.strategy.exit_breakpoints.add(ExitReason[reason] if isinstance(reason, str) else reason)

    @property
    def break_on_mode_change(self) -> bool:
        return self.machine.break_on_mode_change

    @break_on_mode_change.setter
    def break_on_mode_change(self, on: bool) -> None:
        self.machine.break_on_mode_change = on

    @_GuestOrClass
    def compare(self, strategies: list[str] | None = None, guest: str | None = None, **options):
        """Run one guest under several strategies (default: all) side by side: console output
        with the first diverging line marked, exits by reason, modelled cycles, wall time."""
        guest = guest or (self.guest if self is not None else "kernel")
        return compare(guest, strategies, **options)

    @property
    def translations(self) -> list:
        """Translated blocks (binary translation only): address, original instructions, the
        translated form (callouts and their handlers), executions when profiling."""
        if "translation_cache" not in self.strategy.capabilities:
            return []
        return list(self.strategy.translations)

    @property
    def vmcs(self):
        """The VMCS (VT-x model only): ``lab.vmcs.table()``, ``lab.vmcs["EXIT_QUALIFICATION"]``,
        ``lab.vmcs.set_control("HLT_EXITING", False)``."""
        return self.strategy.vmcs

    @property
    def guest_vmcs(self):
        """The current VMCS of a guest that is a hypervisor itself (its VMPTRLD'd one, under
        native or nested under vtx), or None."""
        vmx = self.machine.vmx
        return None if vmx is None or not vmx.on else vmx.vmcs

    def guest_vmx(self) -> dict[str, Any] | None:
        """A guest hypervisor's VMX as the processor keeps it (None outside VMX operation):
        the current VMCS region, VM entries and exits so far, whether its guest runs now."""
        vmx = self.machine.vmx
        if vmx is None or not vmx.on:
            return None
        return {"vmxon region": vmx.vmxon_pointer, "current VMCS": vmx.current,
                "entries": vmx.entries, "exits": vmx.exits, "guest running": vmx.non_root}

    @property
    def vcpu(self):
        """The monitor's virtual CPU (None under native: there is no monitor)."""
        return self.strategy.vcpu

    def translate(self, linear: int | str):
        """How a guest-virtual address (or label) reaches memory now: the guest's walk, and the
        shadow's walk or the EPT entry beside it (:class:`vlab.translation.Translation`)."""
        from vlab.translation import describe

        return describe(self.machine, self.strategy, self.address(linear))

    def page_tables(self, limit: int = 24) -> dict[str, list[tuple[int, int, int]]]:
        """Present 4 KiB mappings (linear page, entry, frame), lowest first: the guest's current
        tables, and beside them the shadow's (shadow paging) or the EPT's (guest-physical ->
        host-physical)."""
        return self.strategy.page_tables(limit)

    def page_faults(self) -> list:
        """The page faults the monitor saw (kind hidden / true / pt_write), most recent last."""
        return self.strategy.page_faults()

    def memory_summary(self) -> dict[str, Any]:
        """The monitor's MMU counters (shadow page tables, EPT or paravirtual page tables)."""
        return self.strategy.memory_summary()

    def disassemble(self, address: int | str | None = None, count: int = 1):
        """Decoded guest instructions at ``address`` (default EIP)."""
        return self.machine.disassemble(self.address(address), count)

    def data_ranges(self) -> list[tuple[int, bytes]]:
        """Bytes of the guest image that are data, not code, as (address, bytes): a paravirtual
        image's signature, which its first instruction jumps over. Disassembly shows them as data."""
        from vlab.strategies.paravirt import is_paravirtual
        from vlab.strategies.paravirt.abi import PV_SIGNATURE

        if not is_paravirtual(self.image.code):
            return []
        start = self.image.code.index(PV_SIGNATURE)
        return [(self.image.origin + start, PV_SIGNATURE)]

    def _view(self):
        import importlib

        return importlib.import_module(self.VIEW_MODULE)

    def widget(self):
        """The lab's UI, an ipywidgets ``VBox``: controls, strategy toggle, CPU, code, trap log,
        diagram, console, VMCS, translation-cache and memory views."""
        return self._view().LabWidget(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        view = self._view()
        bundle = {"text/plain": repr(self), "text/html": view.static_html(self)}
        try:
            data = self.widget()._repr_mimebundle_(include=include, exclude=exclude)
            if isinstance(data, tuple):
                data = data[0]
            bundle.update(data or {})
        except Exception:  # no widget front end: the static view stays
            pass
        return bundle

    def summary(self) -> dict[str, Any]:
        """The run as one JSON-friendly dict (what ``vlab run --json`` prints)."""
        return {
            "guest": self.guest,
            "strategy": self.strategy.name,
            "status": self.status,
            "exit_code": self.exit_code,
            "console": self.console,
            "instructions": self.machine.instructions,
            "exits": self.trace.counts(),
            "monitor_entries": self.trace.entries,
            "callouts": self.trace.callouts,
            "inline": self.trace.inline,
            "memory": self.memory_summary(),
            "error": str(self.error) if self.error is not None else None,
        }

    def __repr__(self) -> str:
        return (f"<Lab guest={self.guest!r} strategy={self.strategy.name!r} status={self.status} "
                f"instructions={self.machine.instructions}>")

    # ---------------------------------------------------------------- read-only, for views
    @staticmethod
    def explain(mnemonic: str, line: str = "") -> str | None:
        """What an instruction does and what it causes under each strategy (trap, callout, VM
        exit and its reason, hypercall, or a hole), as plain text; None for a word that is not
        an instruction vlab knows. ``line``: the whole source line (its operands matter for
        MOV to a control register)."""
        from vlab.explain import explain

        return explain(mnemonic, line)

    @staticmethod
    def available_strategies() -> dict[str, frozenset[str]]:
        """Every strategy a Lab can switch to, by name, with the capabilities it declares (what
        the strategy toggle offers, and which options a switch takes: "ept")."""
        return {name: cls.capabilities for name, cls in strategies.STRATEGIES.items()}


def _load_image(image: bytes | str | Path | Image) -> Image:
    if isinstance(image, Image):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        return Image("image", bytes(image), layout.ENTRY)
    if not isinstance(image, (str, Path)):
        raise VlabError(f"a guest is a name, an Image, bytes or a file path, not "
                        f"{type(image).__name__}")
    path = Path(image)
    if not path.is_file():
        raise VlabError(f"no image file {str(path)!r}")
    return Image(path.stem, path.read_bytes(), layout.ENTRY)


def compare(guest: str = "kernel", strategies: list | None = None, **options) -> Comparison:
    """Run ``guest`` under each strategy (default: all available) and collect the results.
    An entry of ``strategies`` is a strategy name, or ``(label, strategy, strategy_options)``
    (e.g. ``("vtx (no EPT)", "vtx", {"ept": False})``); paravirt runs the guest's PV build."""
    configs = [c if isinstance(c, tuple) else (c, c, {})
               for c in (strategies or list(_strategies.STRATEGIES))]
    result = Comparison(guest)
    for label, name, strategy_options in configs:
        lab = Lab(guest=guests.build_for(guest, name), strategy=name,
                  strategy_options=strategy_options, **options)
        try:
            lab.run()
        except VlabError:
            pass
        s = lab.summary()
        result.runs[label] = Run(label, s["status"], s["console"], s["instructions"], s["exits"],
                                 lab.trace.total, lab.trace.cycles, lab.wall_time, s["error"],
                                 lab.trace.entries, lab.trace.callouts, lab.memory_summary(),
                                 lab.trace.inline)
    return result
