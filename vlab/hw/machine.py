"""The machine: one x86 PC in 32-bit protected mode with real privilege rings.

A :class:`Machine` composes its parts, each the one owner of its state:

- :attr:`~Machine.core`: the Unicorn core and its probes (:mod:`vlab.hw.core`);
- :attr:`~Machine.cpu`: the real registers, CPL and descriptor tables (:mod:`vlab.hw.cpu`);
- :attr:`~Machine.memory`: guest RAM and linear accesses through paging (:mod:`vlab.hw.memory`);
- :attr:`~Machine.devices`: serial console, PIC, timer, exit device (:mod:`vlab.hw.devices`);
- :attr:`~Machine.clock`: virtual time and the run loop (:mod:`vlab.hw.clock`);
- :attr:`~Machine.hooks`: where the core hands events back (:mod:`vlab.hw.hooks`).

Events that need an answer (an interrupt or exception, port I/O, "may an interrupt be taken
now?", HLT, RAM a monitor maps on demand) go to :attr:`Machine.monitor`: by default
:class:`BareMetal`, the machine's own behaviour (delivery through the guest's IDT, I/O straight
to the devices); a strategy that runs a monitor puts itself there. Everything else is a
:class:`~vlab.events.Signal` (``restored``, ``stopped``, ``slice_ended``) anyone may observe.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import unicorn

from vlab import layout
from vlab.errors import VlabError
from vlab.events import Signal
from vlab.hw import checks, delivery
from vlab.hw.clock import Clock, Stop
from vlab.hw.core import Core
from vlab.hw.cpu import Cpu
from vlab.hw.devices import Devices
from vlab.hw.disk import AtaDisk, image_from
from vlab.hw.hooks import Hooks
from vlab.hw.memory import Memory
from vlab.hw.segments import SegmentChecks
from vlab.hw.watch import DataWatch
from vlab.isa import Image, Instruction, decoder
from vlab.state import CpuState

IF, RF, VM = 1 << 9, 1 << 16, 1 << 17  # EFLAGS bits

__all__ = ["Machine", "MachineMonitor", "BareMetal", "Snapshot", "Stop"]


class MachineMonitor(Protocol):
    """What handles the machine's events (the bare machine itself, or a monitor)."""

    #: Does it leave guest RAM out of the core until first touched (EPT demand allocation)?
    maps_ram_on_demand: bool

    def interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        """An interrupt or exception at the current instruction boundary."""

    def io(self, is_out: bool, port: int, size: int, value: int) -> int:
        """Port I/O by the guest (IN's value is returned)."""

    def interrupts_enabled(self) -> bool:
        """May an external interrupt be delivered now?"""

    def accepts_external_interrupt(self) -> bool:
        """May the PIC hand over an external interrupt now (to be delivered, or to cause an
        exit)? Usually :meth:`interrupts_enabled`."""

    def interrupt_window(self) -> str | None:
        """A monitor that asked to learn when the guest can take an interrupt (VT-x's
        interrupt-window exiting): "open" if it can now (the monitor then exits), "wait" while
        its IF holds it back, None if nothing was asked."""

    def open_interrupt_window(self) -> None:
        """The guest can take an interrupt and the monitor asked to know: tell it (an exit)."""

    def hlt(self) -> None:
        """The guest executed HLT on the core (the machine is now halted)."""

    def unmapped_ram(self, access: str, address: int) -> bool:
        """Guest RAM not in the core was touched; True once it is mapped (the access retries)."""

    def defers_unmapped(self, address: int) -> bool:
        """Must an access to this unmapped guest RAM stop the core first, and reach
        :meth:`unmapped_ram` after it (an exit that leaves the instruction undone)?"""

    def page_fault_raised(self, address: int) -> None:
        """vlab raised a #PF itself while delivering an event (CR2 is ``address``)."""

    def io_permitted(self, port: int, size: int) -> bool:
        """May the guest's I/O instruction at the current EIP reach ``port``?"""

    def descriptor_accessed(self, address: int) -> None:
        """The CPU set the Accessed bit of the descriptor at ``address`` in the machine's own
        (monitor-area) GDT."""

    def prepare_descriptor_read(self, linear: int, write: bool) -> None:
        """vlab is about to load a segment register, so the core will read (``write``: and set
        the Accessed bit of) the descriptor at guest-linear ``linear``: make its page reachable
        in the core (fill the shadow, map the EPT frame) if the guest maps it."""

    def msr_intercepted(self, msr: int, write: bool) -> bool:
        """Does RDMSR/WRMSR of ``msr`` reach this monitor (which then decides if it exists)?"""

    def sysenter(self, insn: Instruction) -> None:
        """The guest is about to execute SYSENTER (the core would only step over it)."""


class BareMetal:
    """No monitor: the machine behaves as the hardware does (the native strategy's world)."""

    maps_ram_on_demand = False

    def __init__(self, machine: Machine):
        self.machine = machine

    def interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        m = self.machine
        if vector == 6 and m.vmx is not None and not software and m.vmx.execute():
            return  # a VMX instruction (the core has none): the processor's VMX carried it out
        delivery.deliver(m, vector, error_code, software)
        m.clock.note_cpl()

    def io(self, is_out: bool, port: int, size: int, value: int) -> int:
        m = self.machine
        if not m.io_permitted(port, size):
            return m.refuse_io()
        return m.device_io(is_out, port, size, value)

    def interrupts_enabled(self) -> bool:
        return self.machine.cpu.real_if()

    def accepts_external_interrupt(self) -> bool:
        return self.interrupts_enabled()

    def interrupt_window(self) -> str | None:
        return None

    def open_interrupt_window(self) -> None:
        raise NotImplementedError  # (never asked: interrupt_window() is None)

    def hlt(self) -> None:
        """Nothing to do: the run loop waits for the next interrupt."""

    def unmapped_ram(self, access: str, address: int) -> bool:
        return False

    def defers_unmapped(self, address: int) -> bool:
        return False

    def mapped_frames(self, frame: int) -> bool:
        """Is guest frame ``frame`` in the core (all of RAM is, on the bare machine)?"""
        return True

    def page_fault_raised(self, address: int) -> None:
        """CR2 is already set by the machine."""

    def io_permitted(self, port: int, size: int) -> bool:
        return self.machine.io_permitted(port, size)

    def msr_intercepted(self, msr: int, write: bool) -> bool:
        return False

    def descriptor_accessed(self, address: int) -> None:
        """Nothing to do: that GDT is the machine's."""

    def prepare_descriptor_read(self, linear: int, write: bool) -> None:
        """Nothing to do: the guest's own page tables are the core's."""

    def sysenter(self, insn: Instruction) -> None:
        """SYSENTER (SDM vol. 2B): #GP(0) if IA32_SYSENTER_CS[15:2] is 0; else ring 0 at
        IA32_SYSENTER_CS:IA32_SYSENTER_EIP, SS = that CS + 8, ESP = IA32_SYSENTER_ESP, with
        EFLAGS.VM, IF and RF cleared. (vlab loads CS and SS from the GDT, where an OS that uses
        SYSENTER keeps the flat ring-0 segments the instruction assumes.)"""
        m = self.machine
        cs = m.cpu.msr(checks.SYSENTER_CS) & 0xFFFC
        if cs == 0:
            m.clock.defer_fault(13, 0)
            return
        eflags = m.cpu.reg("eflags") & ~(IF | RF | VM)
        m.cpu.enter(cs, m.cpu.msr(checks.SYSENTER_EIP) & 0xFFFF_FFFF, cs + 8,
                    m.cpu.msr(checks.SYSENTER_ESP) & 0xFFFF_FFFF, eflags)


class StatefulPart(Protocol):
    """Something above the machine whose state a snapshot must carry (a monitor's virtual
    CPU, VMCS, shadow tables, translation cache, trace ...)."""

    def save_state(self) -> Any: ...

    def load_state(self, state: Any) -> None: ...


@dataclass
class Snapshot:
    """A whole machine: CPU context, RAM, the monitor area, devices, time, and the state of
    every part attached with :meth:`Machine.attach_state`."""

    context: unicorn.UcContext
    ram: bytes
    monitor_area: bytes
    devices: Devices
    counters: dict[str, Any]
    parts: dict[str, Any] = field(default_factory=dict)


class Machine:
    """A protected-mode x86 machine with rings 0/1/3, guest RAM and devices.

    ``timer_period`` is the timer interval in guest instructions; ``budget`` (instructions retired
    in total, None for no limit) ends a runaway guest with :class:`~vlab.errors.BudgetExhausted`.
    """

    def __init__(self, ram_size: int = layout.DEFAULT_RAM, *, timer_period: int = 10_000,
                 budget: int | None = 50_000_000,
                 disk: bytes | bytearray | str | Path | int | None = None):
        if ram_size < 2 * 1024 * 1024 or ram_size % 4096 or ram_size > 1 << 30:
            raise ValueError("ram_size must be a multiple of 4 KiB between 2 MiB and 1 GiB "
                             "(the standard entry point is at 1 MiB)")
        #: the disk image the machine powers on with (None: no disk on the ATA channel); a
        #: reset puts it back, as the lab's start state
        self.disk_image = None if disk is None else bytes(image_from(disk))
        self.timer_period = timer_period
        self.image: Image | None = None
        self.core = Core()
        self.memory = Memory(self, ram_size)
        self.memory.map_into(self.core.uc)
        self.cpu = Cpu(self)
        self.clock = Clock(self, budget)
        self.devices = Devices()
        self.hooks = Hooks(self)
        self.monitor: MachineMonitor = BareMetal(self)
        #: The processor's VMX for the guest's own code (vlab.hw.vmx), when the strategy offers
        #: it (native); None: VMX instructions are #UD and CPUID says there is no VMX.
        self.vmx = None
        self.breakpoints: set[int] = set()
        self.restored: Signal[None] = Signal("restored")
        self.stopped: Signal[None] = Signal("stopped")  # after every run() / step()
        self.slice_ended: Signal[None] = Signal("slice_ended")  # after every emu_start
        self.checks = checks.Checks(self)
        #: deliveries in C where they are the common case (vlab.hw.delivery.NATIVE), with the
        #: native counter's library; None: all in Python
        self.native_delivery = delivery.NativeDelivery(self, self.core.blocks.lib) \
            if self.core.blocks is not None and delivery.NATIVE else None
        self.watch = DataWatch(self)
        self.segments = SegmentChecks(self)
        self._parts: dict[str, StatefulPart] = {}
        self._trail: list[list[Any]] = []  # step_back: [snapshot, steps since] checkpoints
        self._mode_breaks = False
        self.reset()

    # ------------------------------------------------------------------ set-up
    def reset(self) -> None:
        """Power-cycle: clear RAM, rebuild the boot state and reload the image (if any)."""
        self.memory.clear()
        self.devices = Devices(disk=None if self.disk_image is None
                               else AtaDisk(bytearray(self.disk_image)),
                               ram=self.memory.ram)  # (the block ring's DMA reaches guest RAM)
        self.devices.timer.reprogram(self.timer_period, 0)
        self.clock.reset()
        self._trail = []
        mon = bytearray(layout.MONITOR_SIZE)
        gdt = layout.boot_gdt()
        mon[0:len(gdt)] = gdt
        tss = bytearray(0x68)
        struct.pack_into("<II", tss, 4, layout.BOOT_STACK, layout.KERNEL_DS)  # ESP0, SS0
        tss[0x66:0x68] = struct.pack("<H", 0x68)  # no I/O bitmap
        off = layout.BOOT_TSS - layout.MONITOR_BASE
        mon[off:off + 0x68] = tss
        mon[layout.TRAMPOLINE - layout.MONITOR_BASE] = 0xCF  # iretd
        self.memory.restore_monitor_area(bytes(mon))
        self.cpu.power_on(len(gdt) - 1)
        self.core.clear_fault()
        self.core.flush()
        self.checks.reset()
        self.segments.reset()
        self.watch.arm([0] * 4, 0)
        if self.image is not None:
            image = self.image
            self.memory.ram[image.origin:image.origin + len(image.code)] = image.code
            self.cpu.set_reg("eip", image.entry)
            self.core.flush()
            self.checks.scan(image.entry)

    def load(self, image: Image | bytes, origin: int = layout.ENTRY) -> None:
        """Load a flat image (``Image`` or raw bytes at ``origin``) and reset to its entry."""
        if isinstance(image, (bytes, bytearray, memoryview)):
            image = Image("image", bytes(image), origin)
        if not image.code:
            raise VlabError("the image is empty")
        if image.origin < 0x1000 or image.origin + len(image.code) > self.memory.ram_size:
            raise VlabError(f"the image ({len(image.code)} bytes at {image.origin:#x}) does not "
                            f"fit in guest RAM ({self.memory.ram_size:#x} bytes)")
        self.image = image
        self.reset()

    def attach_state(self, name: str, part: StatefulPart) -> None:
        """Make ``part``'s state travel with snapshots (and so with ``step_back``)."""
        self._parts[name] = part

    # ------------------------------------------------------------------ devices
    def io_permitted(self, port: int, size: int, cpl: int | None = None,
                     iopl: int | None = None, tss: tuple[int, int] | None = None) -> bool:
        """May the guest's IN/OUT at ``port`` (``size`` bytes) run? Yes if CPL <= IOPL, else
        only if the TSS's I/O permission bitmap has a 0 for every byte of it (SDM vol. 1,
        18.5.1-2; the core checks neither). ``cpl``, ``iopl`` and ``tss`` (base, limit of a
        32-bit TSS) default to the core's own; a monitor passes the guest's virtual ones."""
        cpu = self.cpu
        cpl = cpu.cpl() if cpl is None else cpl
        iopl = (cpu.system_flags() >> 12) & 3 if iopl is None else iopl
        if cpl <= iopl:
            return True
        base, limit = cpu.tss_range() if tss is None else tss
        if limit < 0x67:
            return False
        bitmap = int.from_bytes(self.memory.read_linear(base + 0x66, 2), "little")
        offset = bitmap + port // 8
        if offset + 1 > limit:  # the CPU reads two bytes of the bitmap, both inside the TSS
            return False
        bits = int.from_bytes(self.memory.read_linear(base + offset, 2), "little") >> (port % 8)
        return not bits & ((1 << size) - 1)

    def refuse_io(self) -> int:
        """From inside the core's IN/OUT hook: the instruction raises #GP(0) instead of doing
        I/O. Returns what the core writes back into the accumulator (its own value: an IN
        that faults changes nothing)."""
        self.clock.defer_fault(13, 0)
        return self.cpu.reg("eax")

    def device_io(self, is_out: bool, port: int, size: int, value: int) -> int:
        """Port I/O on the machine's devices (the bus; IN of nothing reads all ones)."""
        d, clock = self.devices, self.clock
        if not is_out:
            value = d.read(port, size)
            if d.raised_by_read:  # (the disk's next block is ready: an interrupt may come now)
                d.raised_by_read = False
                clock.resample()
            return value
        effect = d.write(port, value, lambda: clock.vtime + clock.progress(), size)
        if d.blkring is not None and d.blkring.dma_writes:  # (a notification's DMA)
            self.dma_done()
        if effect == "exit" and clock.in_slice:
            clock.request_stop("halted", d.exit.code)
        elif effect == "resample":  # a mask, EOI or timer change alters what may interrupt
            clock.resample()
        return 0

    def dma_done(self) -> None:
        """A device wrote guest RAM itself (a block ring's DMA): code the core translated from
        there is stale, as after any store it did not see (a guest may load code from its
        disk and run it)."""
        for start, end in self.devices.take_dma_writes():
            self.core.forget_code(start, end)

    # ------------------------------------------------------------------ looking
    def state(self) -> CpuState:
        """The core's state as an immutable :class:`~vlab.state.CpuState`."""
        return self.cpu.state()

    @property
    def console(self) -> str:
        return self.devices.serial.text

    @property
    def exit_code(self) -> int | None:
        return self.devices.exit.code

    @property
    def instructions(self) -> int:
        """Guest instructions retired so far."""
        return self.clock.instructions

    @property
    def vtime(self) -> int:
        """Virtual time: instructions retired plus time skipped while halted."""
        return self.clock.vtime

    def disassemble(self, address: int | None = None, count: int = 1):
        """Decode ``count`` instructions at ``address`` (default EIP), without side effects."""
        address = self.cpu.eip if address is None else address
        try:
            code = self.memory.peek(address, 15 * count)
        except VlabError:
            return []
        return decoder().decode_many(code, address, count)

    def instruction_text(self, address: int) -> str | None:
        insns = self.disassemble(address, 1)
        return insns[0].text if insns else None

    def hex_bytes(self, address: int) -> str:
        try:
            return "bytes " + self.memory.peek(address, 4).hex(" ")
        except VlabError:
            return "unreadable"

    # ------------------------------------------------------------------ breakpoints
    def add_breakpoint(self, address: int) -> None:
        """Stop before the instruction at ``address`` executes."""
        self.breakpoints.add(address)
        self.hooks.add_breakpoint(address)

    def remove_breakpoint(self, address: int) -> None:
        self.breakpoints.discard(address)
        self.hooks.remove_breakpoint(address)

    @property
    def break_on_mode_change(self) -> bool:
        """Stop whenever the CPL changes."""
        return self._mode_breaks

    @break_on_mode_change.setter
    def break_on_mode_change(self, on: bool) -> None:
        self._mode_breaks = bool(on)
        self.hooks.watch_mode_changes(self._mode_breaks)
        self.clock.last_cpl = self.cpu.cpl()

    # ------------------------------------------------------------------ running
    def run(self, max_instructions: int | None = None, until: int | None = None) -> Stop:
        """Run until the guest halts, a breakpoint, ``until`` (an address) or
        ``max_instructions`` more instructions (then reason "limit")."""
        self._trail = []
        temp = until is not None and until not in self.breakpoints
        if temp:
            self.add_breakpoint(until)
        try:
            return self.clock.run(max_instructions)
        finally:
            if temp:
                self.remove_breakpoint(until)
            self._emit_stopped()

    def step(self) -> Stop:
        """Execute one guest instruction (after delivering any interrupt due at this point)."""
        if not self._trail or self._trail[-1][1] >= 16:
            self._trail.append([self.snapshot(), 0])
            del self._trail[:-64]
        self._trail[-1][1] += 1
        try:
            stop = self._step_once()
        finally:
            self._emit_stopped()
        return stop if stop.reason != "limit" else Stop("step", self.cpu.eip)

    def _step_once(self) -> Stop:
        """One single step (an instruction, or up to the entry of the handler of the
        exception it raised)."""
        self.clock.stepping = True
        try:
            return self.clock.run(1)
        finally:
            self.clock.stepping = False

    def step_back(self) -> None:
        """Undo the last ``step()``: restore the nearest checkpoint and replay up to it."""
        if not self._trail:
            raise VlabError("nothing to step back to (step_back undoes step(), not run())")
        snap, n = self._trail[-1]
        trail = self._trail
        self.restore(snap)
        for _ in range(n - 1):
            self._step_once()
        self._trail = trail
        if n - 1 == 0:
            trail.pop()
        else:
            trail[-1][1] = n - 1

    def _emit_stopped(self) -> None:
        try:
            self.stopped.emit(None)
        except VlabError:
            pass

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> Snapshot:
        """The whole machine, to :meth:`restore` later."""
        c = self.clock
        return Snapshot(
            context=self.core.uc.context_save(), ram=bytes(self.memory.ram),
            monitor_area=self.memory.monitor_area(), devices=self.devices.copy(),
            counters=dict(instructions=c.instructions, vtime=c.vtime, halted=c.halted,
                          vmx_mode=self.cpu.vmx_mode, last_cpl=c.last_cpl,
                          monitor_ss=self.cpu.monitor_ss, irq_wait=c.irq_wait),
            parts={name: part.save_state() for name, part in self._parts.items()})

    def watch_debug_registers(self, changed: tuple[str, int] | None = None) -> None:
        """Watch the data breakpoints the real DR0-DR3 and DR7 enable (``changed``: a MOV to
        a debug register about to set one to a value)."""
        regs = {f"dr{n}": self.cpu.reg(f"dr{n}") for n in (0, 1, 2, 3, 7)}
        if changed is not None:
            regs[changed[0]] = changed[1]
        self.watch.arm([regs["dr0"], regs["dr1"], regs["dr2"], regs["dr3"]], regs["dr7"])

    def restore(self, snap: Snapshot) -> None:
        """Put back a :meth:`snapshot`: registers, RAM, devices, time, and attached parts."""
        self.core.uc.context_restore(snap.context)
        self.core.clear_fault()
        self.memory.ram[:] = snap.ram
        self.memory.restore_monitor_area(snap.monitor_area)
        self.devices = snap.devices.copy()
        c, k = self.clock, snap.counters
        c.instructions, c.vtime, c.halted = k["instructions"], k["vtime"], k["halted"]
        c.last_cpl, c.failed, c.pending_stop = k["last_cpl"], None, None
        c.irq_wait = k["irq_wait"]
        self.cpu.vmx_mode, self.cpu.monitor_ss = k["vmx_mode"], k["monitor_ss"]
        self._trail = []
        self.core.flush()
        self.watch_debug_registers()  # (a monitor with virtual ones re-arms in load_state)
        for name, part in self._parts.items():
            if name in snap.parts:
                part.load_state(snap.parts[name])
        self.restored.emit(None)
