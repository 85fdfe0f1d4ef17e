"""The virtual CPU: what the monitor keeps for the guest, and what handlers work on.

A handler is ``handler(vcpu, exit) -> None``. It reads and writes guest registers
(``vcpu.regs.eax``), the virtual state (``vcpu.virt.IF``, ``vcpu.virt.CR0`` ...), guest memory
(``vcpu.mem``), injects interrupts (``vcpu.inject(vector)``) and advances past the instruction
(``vcpu.skip()``). vlab's own handlers and a student's have exactly this shape.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Callable

from vlab import layout
from vlab.errors import GuestFault, UnmappedAccess, VlabError
from vlab.hw.cpu import REGISTER_IDS, descriptor_base, descriptor_limit
from vlab.hw.delivery import ERROR_CODE_VECTORS, deliver_once, escalate
from vlab.monitor.api import REGISTER_PARTS
from vlab.monitor.trace import ExitReason
from vlab.state import IF, IOPL_MASK, NT, RF, TF, VM, TableRegister

if TYPE_CHECKING:
    from vlab.hw.machine import Machine
    from vlab.monitor.trace import Exit

_SUB = REGISTER_PARTS  # 16- and 8-bit registers: (32-bit register, shift, mask)
_FULL = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags",
         "cs", "ds", "es", "fs", "gs", "ss")
_EIP = REGISTER_IDS["eip"]
_GPRS = {name: REGISTER_IDS[name] for name in ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp",
                                               "esp")}


class Registers:
    """Guest registers by name: ``regs.eax``, ``regs.al``, ``regs.eip`` (read and write)."""

    def __init__(self, vcpu: VirtualCpu):
        object.__setattr__(self, "_vcpu", vcpu)
        object.__setattr__(self, "_fast", vcpu.machine.core.registers)

    def __getattr__(self, name: str) -> int:
        gpr = _GPRS.get(name)
        if gpr is not None:  # (the general registers: straight from the core)
            return self._fast.read(gpr)
        m = self._vcpu.machine
        if name in _FULL:
            return m.cpu.reg(name)
        if name in _SUB:
            full, shift, mask = _SUB[name]
            return (m.cpu.reg(full) >> shift) & mask
        raise AttributeError(f"no register {name!r}")

    def __setattr__(self, name: str, value: int) -> None:
        gpr = _GPRS.get(name)
        if gpr is not None:  # (no side effect to check: a store)
            self._fast.write(gpr, value)
            return
        v = self._vcpu
        if name == "eip":
            v.set_eip(value)
        elif name in _FULL:
            v.machine.cpu.set_reg(name, value)
        elif name in _SUB:
            full, shift, mask = _SUB[name]
            old = v.machine.cpu.reg(full)
            v.machine.cpu.set_reg(full, (old & ~(mask << shift)) | ((value & mask) << shift))
        else:
            raise AttributeError(f"no register {name!r}")

    def __getitem__(self, name: str) -> int:
        return getattr(self, name)

    # (the general registers, read at every exit, also as properties: found at once, where
    # __getattr__ runs only after the ordinary look-up has failed)
    for _name, _reg in _GPRS.items():
        locals()[_name] = property(lambda self, reg=_reg: self._fast.read(reg))
    del _name, _reg

    def __setitem__(self, name: str, value: int) -> None:
        setattr(self, name, value)


class Disk:
    """The machine's disk image, as a device back end reaches it: ``disk.read(sector, count)``,
    ``disk.write(sector, data)``, ``disk.sectors``. Whole 512-byte sectors; a request past the
    end is a :class:`~vlab.errors.VlabError` (the back end answers it with an error status)."""

    def __init__(self, machine: Machine):
        self._m = machine

    def _image(self) -> bytearray:
        disk = self._m.devices.disk
        if disk is None:
            raise VlabError("this machine has no disk")
        return disk.image

    @property
    def sectors(self) -> int:
        return len(self._image()) // 512

    def _span(self, sector: int, count: int) -> tuple[int, int]:
        total = self.sectors
        if not (0 <= sector and 0 < count <= 256 and sector + count <= total):
            raise VlabError(f"disk: sectors {sector}..{sector + count - 1} are not on the disk "
                            f"({total} sectors; at most 256 at a time)")
        return sector * 512, (sector + count) * 512

    def read(self, sector: int, count: int = 1) -> bytes:
        start, end = self._span(sector, count)
        return bytes(self._image()[start:end])

    def write(self, sector: int, data: bytes) -> None:
        if not data or len(data) % 512:
            raise VlabError(f"disk: {len(data)} bytes; a disk is written in whole 512-byte sectors")
        start, end = self._span(sector, len(data) // 512)
        self._image()[start:end] = data


class Memory:
    """Guest memory: ``mem.read(addr, n)``, ``mem.write(addr, data)``, ``mem.u32(addr)`` ..."""

    def __init__(self, machine: Machine):
        self._m = machine

    def read(self, address: int, size: int) -> bytes:
        return self._m.memory.read(address, size)

    def write(self, address: int, data: bytes) -> None:
        """Write on the guest's behalf: only its RAM, as the CPU would let it."""
        m = self._m
        end = address + len(data)
        if address < 0 or end > m.memory.ram_size:
            if address < layout.MONITOR_BASE + layout.MONITOR_SIZE and end > layout.MONITOR_BASE:
                raise GuestFault(f"the guest wrote to the monitor's memory at {address:#010x} "
                                 "(refused: it is outside the guest's RAM)", m.clock.fault_eip)
            raise UnmappedAccess(f"write of {len(data)} bytes at {address:#010x} outside guest "
                                 "RAM", address, m.clock.fault_eip)
        m.memory.write(address, data)

    def u8(self, address: int) -> int:
        return self.read(address, 1)[0]

    def u16(self, address: int) -> int:
        return struct.unpack("<H", self.read(address, 2))[0]

    def u32(self, address: int) -> int:
        return struct.unpack("<I", self.read(address, 4))[0]

    def write_u16(self, address: int, value: int) -> None:
        self.write(address, struct.pack("<H", value & 0xFFFF))

    def write_u32(self, address: int, value: int) -> None:
        self.write(address, struct.pack("<I", value & 0xFFFF_FFFF))

    def __getitem__(self, key: slice) -> bytes:
        if not isinstance(key, slice) or key.stop is None:
            raise TypeError("use mem[start:stop]")
        return self.read(key.start or 0, key.stop - (key.start or 0))


@dataclass(slots=True)
class VirtualState:
    """The CPU as the guest believes it to be. Fields can be set; unknown names are errors."""

    IF: bool = False
    IOPL: int = 0
    CR0: int = 0x11
    CR2: int = 0
    CR3: int = 0
    CR4: int = 0
    GDTR: TableRegister = field(default_factory=lambda: TableRegister(0, 0))
    IDTR: TableRegister = field(default_factory=lambda: TableRegister(0, 0))
    LDTR: int = 0
    TR: int = 0
    msrs: dict[int, int] = field(default_factory=dict)
    #: Where the guest's CPL comes from: the real CPL as the monitor maps it (a function, so a
    #: snapshot copies the state without copying the machine).
    cpl_source: Callable[[], int] = field(default=lambda: 0, repr=False, compare=False)

    @property
    def CPL(self) -> int:  # noqa: N802 (the register's name)
        """The privilege level the guest believes it runs at. It is not stored: it follows the
        real CS (ring deprivileging maps the kernel's real ring 1 to the 0 it believes in)."""
        return self.cpl_source()

    @CPL.setter
    def CPL(self, value: int) -> None:  # noqa: N802
        raise AttributeError("the guest's CPL follows its CS: a monitor changes it by entering "
                             "the guest at another ring (vcpu.inject, or an emulated IRET)")

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in _VIRT_FIELDS}

    def values(self) -> tuple:
        """The fields as a tuple (cheap: used around every exit to find what changed)."""
        return (self.IF, self.IOPL, self.CR0, self.CR2, self.CR3, self.CR4, self.GDTR, self.IDTR,
                self.LDTR, self.TR, self.cpl_source())


_VIRT_FIELDS = tuple(f.name for f in fields(VirtualState)
                     if f.name not in ("msrs", "cpl_source")) + ("CPL",)


class VirtualCpu:
    """The guest's virtual CPU: registers, memory, virtual state, and the current exit."""

    def __init__(self, machine: Machine):
        self.machine = machine
        self._registers = machine.core.registers
        self.regs = Registers(self)
        self.mem = Memory(machine)
        self.disk = Disk(machine)
        #: How the real CPL maps to the one the guest believes in (a monitor that deprivileges
        #: the kernel replaces it).
        self.guest_cpl_of: Callable[[int], int] | None = None  # None: the real CPL, as is

        def guest_cpl() -> int:  # (a plain function: a snapshot's deep copy keeps it as is)
            real = machine.cpu.cpl()
            mapped = self.guest_cpl_of
            return real if mapped is None else mapped(real)

        self.virt = VirtualState(cpl_source=guest_cpl)
        self.exit: Exit | None = None
        self.vmcs = None  # the VMCS, under the VT-x model
        self.ept = None  # its extended page tables (vlab.strategies.vtx.ept.Ept), when enabled
        # Set by the strategy: how selectors the guest believes in map to real ones and back.
        self.to_real: Callable[[int], int] = lambda sel: sel
        self.to_virtual: Callable[[int], int] = lambda sel: sel
        self.on_gdt_change: Callable[[], None] = lambda: None
        self.on_ldt_change: Callable[[], None] = lambda: None
        self.on_debug_change: Callable[[], None] = lambda: None
        self.on_invlpg: Callable[[int], None] = lambda linear: None
        # The current exit's progress, which the dispatcher checks after the handler returns:
        self.advanced = False  # has the handler moved EIP past the instruction (skip)?
        self.in_io_hook = False  # are we inside the core's IN/OUT hook (EIP writes deferred)?
        self.emulating_fault = False  # was the instruction a fault (not yet counted as retired)?
        self.string_in_value: int | None = None  # what an emulated INS reads (goes to memory)
        self.notes: dict = {}  # what the handler wants the trace to remember (see note())

    def guest_cpl(self, real: int) -> int:
        """The CPL the guest believes in when the real one is ``real``."""
        mapped = self.guest_cpl_of
        return real if mapped is None else mapped(real)

    # ------------------------------------------------------------------ basic acts
    def skip(self) -> None:
        """Advance EIP past the instruction that caused the current exit; it counts as executed."""
        exit_ = self.exit
        if exit_ is None or not exit_.raw:
            raise VlabError("skip(): the current exit has no instruction to skip")
        self.set_eip(exit_.eip + len(exit_.raw))
        self.advanced = True

    def note(self, key: str, value) -> None:
        """Leave a note about the current exit in the trace (``lab.trace.outcome(exit).notes``)."""
        self.notes[key] = value

    def set_eip(self, eip: int) -> None:
        eip &= 0xFFFF_FFFF
        exit_ = self.exit
        if self.in_io_hook:
            if eip != (exit_.eip + len(exit_.raw)) & 0xFFFF_FFFF:
                self.machine.clock.defer_eip(eip)
            if not self.advanced:
                self.advanced = True
            return
        if exit_ is not None and not self.advanced and exit_.raw \
                and eip == (exit_.eip + len(exit_.raw)) & 0xFFFF_FFFF:
            if self.emulating_fault:  # a faulting instruction was not counted as retired: now it is
                self.machine.clock.retire()
            self.advanced = True
        self._registers.write(_EIP, eip)  # (EIP has no selector checks to make)

    def invlpg(self, linear: int) -> None:
        """Invalidate what the monitor's MMU holds for the page at ``linear`` (INVLPG)."""
        self.on_invlpg(linear & 0xFFFF_FFFF)

    def halt(self) -> None:
        """The guest waits for an interrupt (HLT): virtual time skips ahead to the next one."""
        self.machine.clock.halt()

    @property
    def cpl(self) -> int:
        """The privilege level the guest believes it runs at."""
        return self.virt.CPL

    def effective_if(self) -> bool:
        """The interrupt flag the guest has now, as its monitor keeps it (the monitor is the one
        owner: the virtual IF in a deprivileged kernel, the shared-info mask in a paravirtual
        one, the real IF in VMX non-root mode)."""
        return self.machine.monitor.interrupts_enabled()

    def guest_eflags(self) -> int:
        """EFLAGS as the guest should see them: real flags with virtual IF and IOPL."""
        real = self.machine.cpu.reg("eflags")
        out = real & ~(IF | IOPL_MASK)
        if self.effective_if():
            out |= IF
        return out | (self.virt.IOPL << 12)

    # ------------------------------------------------------------------ I/O
    def port_read(self, port: int, size: int) -> int:
        """Read a virtual device port (the serial port, PIC, timer ...)."""
        return self.machine.device_io(False, port, size, 0) & ((1 << (8 * size)) - 1)

    def port_write(self, port: int, size: int, value: int) -> None:
        self.machine.device_io(True, port, size, value & ((1 << (8 * size)) - 1))

    def console_append(self, byte: int) -> None:
        """Append a byte to the guest's console (what a serial transmit register does)."""
        serial = self.machine.devices.serial
        if len(serial.console) < serial.limit:
            serial.console.append(byte & 0xFF)

    def native_cpuid(self, leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
        """What the host CPU's CPUID says for ``leaf``/``subleaf``: (EAX, EBX, ECX, EDX)."""
        from vlab.hw.core import host_cpuid

        return host_cpuid(leaf, subleaf)

    def blk_queue(self) -> tuple[int, int, int, int]:
        """The paravirtual block ring as its driver set it up: guest-physical addresses of the
        descriptor table, the available ring and the used ring, and the queue's size (all 0 if
        there is none yet). See vlab.hw.blkring for the layout (virtio 1.1, 2.6)."""
        ring = self.machine.devices.blkring
        if ring is None:
            raise VlabError("this machine has no disk, so no block ring")
        return ring.desc, ring.avail, ring.used, ring.size

    def blk_complete(self) -> None:
        """A batch of requests is done: the block device interrupts its driver once (IRQ 11;
        under paravirt the hypervisor makes it the ring's event)."""
        devices = self.machine.devices
        if devices.blkring is None:
            raise VlabError("this machine has no disk, so no block ring")
        devices.complete_ring()
        self.machine.clock.resample()

    def hypercall(self, number: int, *args: int) -> int:
        """Run the hypervisor's own handler for hypercall ``number`` (paravirt only)."""
        hv = getattr(self, "hv", None)
        if hv is None:
            raise VlabError("no hypervisor: hypercalls exist only under the paravirt strategy")
        return hv.builtin_hypercall(self, number, list(args))

    @property
    def vtime(self) -> int:
        """Virtual time: guest instructions retired plus time skipped by HLT."""
        return self.machine.vtime

    # ------------------------------------------------------------------ descriptors
    def guest_descriptor(self, selector: int) -> tuple[int, int] | None:
        """The two dwords of a descriptor in the *guest's* GDT (virtual GDTR), or in its LDT
        (virtual LDTR) for a TI=1 selector; None past the table or for the null selector."""
        index = selector & 0xFFF8
        if selector & 4:
            ldt = self.guest_ldt()
            if ldt is None or index + 7 > ldt[1]:
                return None
            return struct.unpack("<II", self.machine.memory.read_linear(ldt[0] + index, 8))
        if index == 0 or index + 7 > self.virt.GDTR.limit:
            return None
        return struct.unpack("<II", self.machine.memory.read_linear(self.virt.GDTR.base + index, 8))

    def guest_ldt(self) -> tuple[int, int] | None:
        """Base and limit of the guest's LDT (None if its LDTR is null)."""
        if not self.virt.LDTR & 0xFFFC:
            return None
        d = self.guest_descriptor(self.virt.LDTR & ~4)
        return None if d is None else (descriptor_base(d), descriptor_limit(d))

    def segment_base(self, segment: str) -> int:
        """The base of the segment register ``segment`` ("ds", "ss" ...) holds, from the
        descriptor the core loaded it from (a shadow keeps the guest's bases; 0 for null)."""
        return self.machine.cpu.segment_base(self.regs[segment] & 0xFFFF)

    def mark_accessed(self, selector: int) -> None:
        """Set the Accessed bit of the guest's code or data descriptor ``selector`` names, as
        the CPU does when it loads a segment register (SDM vol. 3A, 3.4.5.1)."""
        d = self.guest_descriptor(selector)
        if d is None or not d[1] & (1 << 12) or d[1] & (1 << 8):
            return  # none, a system descriptor, or already accessed
        address = self.virt.GDTR.base + (selector & 0xFFF8) + 5
        self.machine.memory.write_linear(address, bytes([(d[1] >> 8) & 0xFF | 1]))

    def guest_dpl(self, selector: int) -> int | None:
        d = self.guest_descriptor(selector)
        if d is None or not d[1] & (1 << 15):
            return None
        return (d[1] >> 13) & 3

    def guest_tss_range(self) -> tuple[int, int]:
        """Base and limit of the guest's TSS (named by its virtual TR); (0, 0) if none."""
        d = self.guest_descriptor(self.virt.TR)
        if d is None:
            return 0, 0
        return descriptor_base(d), descriptor_limit(d)

    def guest_tss_stack(self, ring: int) -> tuple[int, int]:
        """SS:ESP for ``ring`` from the guest's TSS (named by its virtual TR)."""
        d = self.guest_descriptor(self.virt.TR)
        if d is None:
            raise GuestFault("the guest has no TSS (virtual TR) to switch stacks with",
                             self.machine.clock.fault_eip, self.machine.clock.fault_text)
        esp, ss = struct.unpack("<II", self.machine.memory.read_linear(
            descriptor_base(d) + 4 + 8 * ring, 8))
        return ss & 0xFFFF, esp

    # ------------------------------------------------------------------ injection
    def inject(self, vector: int, error_code: int | None = None, software: bool = False) -> None:
        """Deliver an interrupt or exception through the *guest's* IDT, as hardware would: gate
        check against the virtual CPL, stack switch from the guest's TSS, a frame with the
        guest's view of EFLAGS and CS, virtual IF cleared for interrupt gates."""
        if error_code is None and not software and vector in ERROR_CODE_VECTORS:
            error_code = 0
        view = GuestView(self)
        # a fault while delivering an INT n saves the INT's own address (it did not complete)
        restart = None
        if software and self.exit is not None and (
                self.exit.raw or self.exit.reason == ExitReason.SOFTWARE_INTERRUPT):
            restart = self.exit.eip  # (a trapped INT n's exit names its own address)
        escalate(lambda vec, code, soft: deliver_once(view, self.machine, vec, code, soft),
                 self.machine, vector, error_code, software, restart)


class GuestView:
    """The guest's CPU as its monitor keeps it, for delivering an event the way the guest's
    hardware would (the frame is built by :func:`vlab.hw.delivery.deliver_once`): the virtual
    CPL, IDT, GDT and TSS; selectors shown as the guest believes them; IF cleared in the
    virtual state, while the real IF stays set for the monitor."""

    def __init__(self, vcpu: VirtualCpu):
        self.vcpu = vcpu

    def cpl(self) -> int:
        return self.vcpu.virt.CPL

    def idt(self) -> tuple[int, int]:
        return self.vcpu.virt.IDTR.base, self.vcpu.virt.IDTR.limit

    def code_dpl(self, selector: int) -> int | None:
        d = self.vcpu.guest_descriptor(selector)
        if d is None or not d[1] & (1 << 15) or not d[1] & (1 << 12) or not d[1] & (1 << 11):
            return None
        return (d[1] >> 13) & 3

    def descriptor(self, selector: int) -> tuple[int, int] | None:
        return self.vcpu.guest_descriptor(selector)

    def stack_for(self, ring: int) -> tuple[int, int]:
        return self.vcpu.guest_tss_stack(ring)

    def pushed_flags(self, eflags: int) -> int:
        return self.vcpu.guest_eflags()

    def shown(self, selector: int) -> int:
        return self.vcpu.to_virtual(selector)

    def loaded(self, selector: int) -> int:
        return self.vcpu.to_real(selector)

    def entry_flags(self, eflags: int, interrupt_gate: bool, ring: int = 0) -> int:
        # the handler's IF: cleared by an interrupt gate, else the interrupted code's (from
        # ring 3 the CPU's own: the virtual IF follows it into the deprivileged kernel). A
        # handler in ring 3 (a conforming code segment) has the CPU's IF as its own.
        flags = eflags & ~(TF | NT | RF | VM)
        if ring == 3:
            return flags & ~IF if interrupt_gate else flags
        self.vcpu.virt.IF = False if interrupt_gate else self.vcpu.effective_if()
        return flags | IF
