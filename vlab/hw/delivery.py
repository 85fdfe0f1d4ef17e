"""Interrupt and exception delivery through the guest's IDT, done in Python.

Unicorn never delivers through the guest IDT: an ``int n`` or a fault reaches ``UC_HOOK_INTR``
*instead* (no gate check, no ring switch, no stack switch). So vlab does what the CPU would
(Intel SDM vol. 3, 6.12 "Exception and interrupt handling"): read the gate, check its DPL for
software interrupts, switch to the inner stack from the TSS, push the frame and the error code,
clear IF for interrupt gates, and load CS:EIP. A monitor's ``inject`` is exactly the same act.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

from vlab.errors import InvalidOpcode, ProtectionFault, TripleFault
from vlab.hw.cpu import descriptor_base, descriptor_limit
from vlab.hw.paging import PageFault
from vlab.state import IF, NT, RF, TF, VM

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

#: Exceptions that push an error code (SDM vol. 3, table 6-1).
ERROR_CODE_VECTORS = frozenset({8, 10, 11, 12, 13, 14, 17})
EXCEPTION_NAMES = {
    0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
    5: "#BR bound", 6: "#UD invalid opcode", 7: "#NM no FPU", 8: "#DF double fault",
    10: "#TS invalid TSS", 11: "#NP segment not present", 12: "#SS stack fault",
    13: "#GP general protection", 14: "#PF page fault", 16: "#MF FPU error", 17: "#AC alignment",
    18: "#MC machine check", 19: "#XM SIMD",
}
_GATE_INTERRUPT, _GATE_TRAP = 0xE, 0xF
_GATE_INTERRUPT_16, _GATE_TRAP_16 = 0x6, 0x7  # 16-bit gates: a frame of words (SDM vol. 3, 6.11)


def is_code(descriptor: tuple[int, int] | None) -> bool:
    """Is this a code-segment descriptor (S=1, type bit 3 set), present or not?"""
    return descriptor is not None and bool(descriptor[1] & (1 << 12)) and bool(descriptor[1] & (1 << 11))


def vector_name(vector: int) -> str:
    return EXCEPTION_NAMES.get(vector, f"vector {vector:#x}")


#: Why one delivery attempt failed: the fault to raise instead (vector, error code, reason).
Failure = tuple[int, int, str]


def deliver(m: Machine, vector: int, error_code: int | None = None, software: bool = False) -> int:
    """Deliver one event through the guest IDT as the CPU would; returns the vector delivered
    (a failed delivery raises what the CPU raises instead: the fault itself, #DF, and finally a
    triple fault, as table 6-5 says)."""
    native = m.native_delivery
    if native is not None and m.memory.mmu is None:
        done = native.deliver(vector, error_code, software)
        if done:
            m.clock.note_cpl()
            return vector
    view = RealView(m)
    return escalate(lambda v, c, soft: deliver_once(view, m, v, c, soft), m, vector, error_code,
                    software, lambda: software_interrupt_start(m, vector) if software else None)


def software_interrupt_start(m: Machine, vector: int) -> int | None:
    """Where the ``int n`` / ``int3`` / ``into`` that raised ``vector`` begins: the core reports
    a software interrupt with EIP already after it (its return address), but a fault while
    delivering it must save the instruction's own address (it did not complete)."""
    eip = m.cpu.eip
    try:
        before = m.memory.read_linear((eip - 2) & 0xFFFF_FFFF, 2)
    except Exception:  # noqa: BLE001 - unreadable: keep the return address
        return None
    if before == bytes([0xCD, vector]):
        return (eip - 2) & 0xFFFF_FFFF
    if before[1] == {3: 0xCC, 4: 0xCE}.get(vector):
        return (eip - 1) & 0xFFFF_FFFF
    return None


#: Exception classes for double faults (SDM vol. 3, table 6-4); the rest are benign.
CONTRIBUTORY = frozenset({0, 10, 11, 12, 13})
PAGE_FAULT = 14


def double_fault(first: int, second: int) -> bool:
    """Does exception ``second``, raised while delivering exception ``first``, become a double
    fault (SDM vol. 3, table 6-5)? Contributory then contributory, and a page fault then a
    contributory or a page fault do; everything else is delivered one after the other."""
    if first in CONTRIBUTORY:
        return second in CONTRIBUTORY
    if first == PAGE_FAULT:
        return second in CONTRIBUTORY or second == PAGE_FAULT
    return False


def escalate(attempt: Callable[[int, int | None, bool], Failure | None], m: Machine,
             vector: int, error_code: int | None, software: bool,
             restart_eip: int | Callable[[], int | None] | None = None) -> int:
    """Try ``attempt(vector, error_code, software)``; while it fails, deliver what the CPU
    raises instead (SDM vol. 3, 6.15 and table 6-5): a fault while delivering an INT n or an
    external interrupt is that fault; one while delivering an exception is that fault too,
    or #DF where table 6-5 says so; a contributory fault or a page fault while delivering #DF
    is a triple fault (shutdown). A fault while delivering a software interrupt saves the
    interrupt instruction's address (``restart_eip``, or a function that finds it: asked only
    if a delivery fails). Returns the vector finally delivered."""
    chain: list[str] = []
    first = vector
    kind = "software" if software else ("exception" if vector < 32 else "external")
    while True:
        try:
            failure = attempt(vector, error_code, kind == "software")
        except PageFault as pf:  # the IDT, the TSS or the new stack is not mapped: a #PF
            m.cpu.set_reg("cr2", pf.address)
            m.monitor.page_fault_raised(pf.address)
            failure = (14, pf.error_code, f"page fault at {pf.address:#010x} while delivering")
        if failure is None:
            return vector
        chain.append(f"{vector_name(vector)}: {failure[2]}")
        if kind == "software" and callable(restart_eip):
            restart_eip = restart_eip()
        if kind == "software" and restart_eip is not None:
            m.cpu.set_reg("eip", restart_eip)
        second = failure[0]
        if kind == "exception" and vector == 8 and (second in CONTRIBUTORY or second == PAGE_FAULT):
            if first == 6:  # the usual case of a guest without a #UD handler: say so
                raise InvalidOpcode("invalid opcode (#UD) and the guest has no usable handler "
                                    "for it (a triple fault on hardware): "
                                    + "; then ".join(chain), m.clock.fault_eip, m.clock.fault_text)
            raise TripleFault("triple fault: " + "; then ".join(chain), m.clock.fault_eip,
                              m.clock.fault_text)
        if kind == "exception" and double_fault(vector, second):
            vector, error_code = 8, 0
        else:
            vector, error_code = failure[:2]
        kind = "exception"


@dataclass(frozen=True)
class Gate:
    """A usable IDT gate: where it sends the event, and whether it clears IF."""

    selector: int
    offset: int
    interrupt: bool  # an interrupt gate (IF cleared), not a trap gate
    width: int = 4  # bytes per pushed item: 2 for a 16-bit gate (IP, CS, FLAGS as words)


def read_gate(m: Machine, base: int, limit: int, vector: int, software: bool,
              cpl: int) -> Gate | Failure:
    """The gate for ``vector`` in the IDT at ``base``/``limit``, checked as the CPU checks it
    (SDM vol. 3, 6.12.1), or the fault the CPU raises instead. (The machine passes the real IDTR
    and CPL, a monitor's inject the guest's virtual ones.)"""
    if limit < 7:
        if vector == 6 and not software:
            raise InvalidOpcode("invalid opcode (#UD), and the guest has no IDT to handle it",
                                m.clock.fault_eip, m.clock.fault_text)
        raise TripleFault(f"{vector_name(vector)} with no usable IDT (the guest has not loaded one "
                          "with LIDT)", m.clock.fault_eip, m.clock.fault_text)
    ext = 0 if software else 1  # EXT: an event external to the program (SDM 6.13)
    gate_err = vector * 8 + 2 + ext  # error code naming an IDT entry (SDM 6.13)
    if vector * 8 + 7 > limit:
        return (13, gate_err, f"vector {vector:#x} is beyond the IDT limit {limit:#x}")
    lo, hi = struct.unpack("<II", m.memory.read_linear(base + vector * 8, 8))
    gtype, dpl, present = (hi >> 8) & 0x1F, (hi >> 13) & 3, (hi >> 15) & 1
    if gtype not in (_GATE_INTERRUPT, _GATE_TRAP, _GATE_INTERRUPT_16, _GATE_TRAP_16):
        return (13, gate_err, f"IDT gate {vector:#x} has type {gtype:#x}, not an interrupt or "
                        "trap gate")  # (the type is checked before P: SDM vol. 2A, INT n)
    if not present:
        return (11, gate_err, f"IDT gate {vector:#x} is not present")
    if software and dpl < cpl:
        return (13, gate_err, f"int {vector:#x} from CPL {cpl} but the gate's DPL is {dpl}")
    if gtype in (_GATE_INTERRUPT_16, _GATE_TRAP_16):  # (a 16-bit offset: IP)
        return Gate((lo >> 16) & 0xFFFF, lo & 0xFFFF, gtype == _GATE_INTERRUPT_16, 2)
    return Gate((lo >> 16) & 0xFFFF, (hi & 0xFFFF0000) | (lo & 0xFFFF),
                gtype == _GATE_INTERRUPT)


#: Exceptions of the fault class (SDM vol. 3, table 6-1), whose EFLAGS image has RF set (vol.
#: 3B, 18.3.1.1); #DB is not among them (an instruction breakpoint must not set it).
FAULTS = frozenset({0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19, 20, 21})


def _conforming(descriptor: tuple[int, int] | None) -> bool:
    return descriptor is not None and bool(descriptor[1] & (1 << 10))


def _stack_refused(view: DeliveryView, ss: int, esp: int, size: int, ring: int,
                   ext: int) -> int | Failure:
    """The inner stack from the TSS, checked as the CPU checks it for an interrupt to an inner
    ring (SDM vol. 2A, INT n, INTER-PRIVILEGE-LEVEL-INTERRUPT): its base, or the fault the CPU
    raises instead (#TS or #SS, naming the selector, with EXT)."""
    code = (ss & 0xFFFC) | ext
    if ss & 0xFFFC == 0:
        return (10, ext, f"the TSS's SS{ring} is null")
    d = view.descriptor(ss)
    if d is None or ss & 3 != ring:
        return (10, code, f"the TSS's SS{ring} ({ss:#06x}) is past the GDT or has RPL {ss & 3}")
    lo, hi = d
    if (hi >> 13) & 3 != ring or not hi & (1 << 12) or hi & (1 << 11) or not hi & (1 << 9):
        return (10, code, f"the TSS's SS{ring} ({ss:#06x}) is not a writable data segment of "
                          f"DPL {ring}")
    if not hi & (1 << 15):
        return (12, code, f"the TSS's SS{ring} ({ss:#06x}) is not present")
    limit = descriptor_limit(d)
    # room for the frame below ESP (as Bochs checks it: an ESP of 0 wraps around only a stack
    # of the largest limit)
    if hi & (1 << 10):  # expand-down: the offsets above the limit
        room = esp != 0 and esp >= size and esp - size > limit
    elif esp == 0:
        room = limit == 0xFFFF_FFFF if hi & (1 << 22) else limit >= 0xFFFF
    else:
        room = limit != 0 and esp >= size and esp - 1 <= limit
    if not room:
        return (12, code, f"no room for the {size}-byte frame on the stack {ss:#06x}:{esp:#x}")
    return descriptor_base(d)


class DeliveryView(Protocol):
    """Whose CPU an event is delivered on. The frame is always built the same way (SDM vol. 3,
    6.12.1); what differs is whose CPL, IDT, GDT and TSS are consulted, and how selectors and
    EFLAGS look to the guest: the real ones (the machine delivering), or the virtual ones a
    monitor keeps (``vcpu.inject``)."""

    def cpl(self) -> int: ...

    def idt(self) -> tuple[int, int]: ...

    def code_dpl(self, selector: int) -> int | None:
        """DPL of the present code segment ``selector`` names (None: it names none)."""

    def descriptor(self, selector: int) -> tuple[int, int] | None:
        """The two dwords of the descriptor ``selector`` names (None: past the table, null)."""

    def stack_for(self, ring: int) -> tuple[int, int]:
        """SS:ESP for ``ring`` from the TSS, as they are there (the delivery checks them)."""

    def pushed_flags(self, eflags: int) -> int:
        """EFLAGS as the frame shows them."""

    def shown(self, selector: int) -> int:
        """A selector as the frame shows it."""

    def loaded(self, selector: int) -> int:
        """The selector the core really loads for one the guest believes in."""

    def entry_flags(self, eflags: int, interrupt_gate: bool, ring: int = 0) -> int:
        """EFLAGS the handler starts with in ``ring`` (clearing IF, wherever this view keeps
        it, for an interrupt gate)."""


class RealView:
    """The machine's own CPU: delivery as the hardware does it."""

    def __init__(self, m: Machine):
        self.cpu = m.cpu

    def cpl(self) -> int:
        return self.cpu.cpl()

    def idt(self) -> tuple[int, int]:
        return self.cpu.idtr()

    def code_dpl(self, selector: int) -> int | None:
        return self.cpu.code_segment_dpl(selector)

    def descriptor(self, selector: int) -> tuple[int, int] | None:
        return self.cpu.descriptor(selector)

    def stack_for(self, ring: int) -> tuple[int, int]:
        return self.cpu.tss_stack(ring, checked=False)

    def pushed_flags(self, eflags: int) -> int:
        return eflags

    def shown(self, selector: int) -> int:
        return selector

    loaded = shown

    def entry_flags(self, eflags: int, interrupt_gate: bool, ring: int = 0) -> int:
        flags = eflags & ~(TF | NT | RF | VM)
        return flags & ~IF if interrupt_gate else flags


def deliver_once(view: DeliveryView, m: Machine, vector: int, error_code: int | None,
                 software: bool) -> Failure | None:
    """One attempt to deliver an event through the IDT ``view`` names (SDM vol. 3, 6.12.1):
    gate, target code segment, stack switch from the TSS for an inner ring, the frame (SS:ESP
    of the interrupted code if the stack switched, EFLAGS, CS, EIP, error code), IF cleared for
    an interrupt gate. Returns the fault the CPU raises instead, or None."""
    cpl = view.cpl()
    gate = read_gate(m, *view.idt(), vector, software, cpl)
    if not isinstance(gate, Gate):
        return gate
    selector, offset = gate.selector, gate.offset
    target = view.code_dpl(selector)
    ext = 0 if software else 1
    if target is None:  # SDM vol. 2A, INT n: null #GP(EXT); not present #NP(sel); else #GP(sel)
        if selector & 0xFFFC == 0:
            return (13, ext, f"IDT gate {vector:#x} has a null code-segment selector")
        if is_code(view.descriptor(selector)):
            return (11, (selector & 0xFFFC) | ext,
                    f"IDT gate {vector:#x} names {selector:#x}, a code segment not present")
        return (13, (selector & 0xFFFC) | ext,
                f"IDT gate {vector:#x} names {selector:#x}, which is not a code segment")
    if target > cpl:
        return (13, (selector & 0xFFFC) | (0 if software else 1),
                "an interrupt cannot go to an outer ring")
    if target < cpl and _conforming(view.descriptor(selector)):
        target = cpl  # (a conforming code segment runs at the CPL: no stack switch, SDM INT n)
    r = m.cpu.regs_for_delivery()
    pushed = view.pushed_flags(r["eflags"])
    if software:  # (INT n completed: RF, set by an IRET just before, is clear in its image)
        pushed &= ~RF
    elif vector in FAULTS:
        pushed |= RF  # (SDM vol. 3B, 18.3.1.1: a fault's EFLAGS image has RF set)
    frame = [pushed, view.shown(r["cs"]), r["eip"]]
    if error_code is not None:
        frame.append(error_code)
    base, width = 0, gate.width
    if target < cpl:
        ss, esp = view.stack_for(target)
        frame = [view.shown(r["ss"]), r["esp"]] + frame
        stack = _stack_refused(view, ss, esp, width * len(frame), target, ext)
        if isinstance(stack, tuple):
            return stack
        base = stack
        new_ss = view.loaded(ss)
    else:
        new_ss, esp = r["ss"], r["esp"]
    esp = (esp - width * len(frame)) & 0xFFFF_FFFF
    mask = (1 << (8 * width)) - 1  # (a 16-bit gate pushes the low halves: FLAGS, IP, SP)
    m.memory.write_linear((base + esp) & 0xFFFF_FFFF, struct.pack(
        f"<{len(frame)}{'I' if width == 4 else 'H'}", *(v & mask for v in reversed(frame))))
    m.cpu.enter(cs=view.loaded((selector & 0xFFFC) | target), eip=offset, ss=new_ss, esp=esp,
                eflags=view.entry_flags(r["eflags"], gate.interrupt, target))
    return None


#: The common case of a delivery by the machine (paging off, a usable gate, the CPL's own code
#: segment or ring 0 from an outer ring, flat stacks) is done in C (vlab/hw/deliver.c, built
#: into the native counter's library): the same checks and effects as deliver_once and
#: Cpu.enter, without a Python call per register and descriptor. False: always in Python (the
#: tests hold both against each other; machines that count with count= mode deliver in Python).
NATIVE = True


class _CpuIo(ctypes.Structure):
    """``struct cpu_io`` in deliver.c."""

    _fields_ = [("reg_read", ctypes.c_void_p), ("reg_write", ctypes.c_void_p),
                ("uc", ctypes.c_void_p), ("ram", ctypes.c_void_p), ("ram_size", ctypes.c_uint64),
                ("monitor", ctypes.c_void_p), ("monitor_base", ctypes.c_uint64),
                ("monitor_size", ctypes.c_uint64)] + [
        (name, ctypes.c_int32) for name in ("eflags", "esp", "cs", "ss", "eip", "cr0", "gdtr",
                                            "idtr", "tr", "pad")]


class _IretCheck(ctypes.Structure):
    """``struct iret_check`` in deliver.c."""

    _fields_ = [("io", ctypes.c_void_p), ("fallback", ctypes.c_void_p), ("ds", ctypes.c_int32),
                ("es", ctypes.c_int32), ("fs", ctypes.c_int32), ("gs", ctypes.c_int32)]


class NativeDelivery:
    """The machine's deliveries in C where they are the common case (see :data:`NATIVE`)."""

    def __init__(self, m: Machine, lib: ctypes.CDLL):
        from unicorn import x86_const as X
        from unicorn.unicorn_py3.unicorn import uclib

        from vlab import layout

        io = self._io = _CpuIo()
        io.reg_read = ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value
        io.reg_write = ctypes.cast(uclib.uc_reg_write, ctypes.c_void_p).value
        io.uc = m.core.uc._uch  # noqa: SLF001 (the C handle)
        io.ram, io.ram_size = ctypes.addressof(m.memory.buffer), m.memory.ram_size
        io.monitor = ctypes.addressof(m.memory.monitor_buffer)
        io.monitor_base, io.monitor_size = layout.MONITOR_BASE, layout.MONITOR_SIZE
        for name in ("eflags", "esp", "cs", "ss", "eip", "cr0", "gdtr", "idtr", "tr"):
            setattr(io, name, getattr(X, f"UC_X86_REG_{name.upper()}"))
        self._ref = ctypes.byref(io)
        self._fn = lib.vlab_deliver
        self._fn.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int64, ctypes.c_int32]
        self._fn.restype = ctypes.c_int
        self.count = 0  # deliveries done in C
        self._core = m.core
        self._kept: dict[int, tuple] = {}  # address -> what its IRETD check points to

    def iret_hook(self, address: int, check) -> int:
        """The machine's check of the IRETD at ``address`` (vlab.hw.checks), done in C where
        there is nothing to do (the segments it loads are marked Accessed already), else by
        ``check``, the Python hook (same arguments as one from ``Core.on_execute``)."""
        from unicorn import x86_const as X

        k = _IretCheck(io=ctypes.addressof(self._io), ds=X.UC_X86_REG_DS, es=X.UC_X86_REG_ES,
                       fs=X.UC_X86_REG_FS, gs=X.UC_X86_REG_GS)
        handle, fallback = self._core.on_execute_native("vlab_iret_check", address, address,
                                                        ctypes.addressof(k), check)
        k.fallback = ctypes.cast(fallback, ctypes.c_void_p).value
        self._kept[address] = (k, fallback)
        return handle

    def deliver(self, vector: int, error_code: int | None, software: bool) -> bool:
        """Deliver in C if it is the common case; False: nothing was changed, Python must."""
        status = self._fn(self._ref, vector, -1 if error_code is None else error_code,
                          int(software))
        if status == 1:
            return False
        if status == 2:
            raise ProtectionFault(f"the CPU refused the transfer to the handler of vector "
                                  f"{vector:#x}", 0)
        self.count += 1
        return True
