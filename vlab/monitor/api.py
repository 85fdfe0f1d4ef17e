"""The handler API, written once: what a handler ``handler(vcpu, exit) -> None`` may use.

vlab's own handlers and a student's have exactly this shape. The virtual CPU
(:class:`vlab.monitor.vcpu.VirtualCpu`) implements it in the monitor. The grader's sandbox proxy
(:mod:`vlab.grading.student`) implements it in the student's process, and its calls are made from
:data:`CALLS`. A test checks both against these protocols, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class Registers(Protocol):
    """Guest registers by name: ``regs.eax``, ``regs.al``, ``regs["esp"]`` (read and write)."""

    def __getattr__(self, name: str) -> int: ...

    def __getitem__(self, name: str) -> int: ...

    def __setitem__(self, name: str, value: int) -> None: ...


class Disk(Protocol):
    """The machine's disk image in 512-byte sectors (for a block device's back end)."""

    sectors: int

    def read(self, sector: int, count: int = 1) -> bytes: ...

    def write(self, sector: int, data: bytes) -> None: ...


class GuestMemory(Protocol):
    """Guest memory at linear addresses, as the guest sees it."""

    def read(self, address: int, size: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...

    def u8(self, address: int) -> int: ...

    def u16(self, address: int) -> int: ...

    def u32(self, address: int) -> int: ...

    def write_u16(self, address: int, value: int) -> None: ...

    def write_u32(self, address: int, value: int) -> None: ...


@runtime_checkable
class HandlerVcpu(Protocol):
    """The virtual CPU a handler is given."""

    regs: Any  # Registers
    virt: Any  # the virtual state: IF, IOPL, CR0, CR2, CR3, CR4, GDTR, IDTR, LDTR, TR, CPL
    mem: Any  # GuestMemory
    disk: Any  # Disk: the disk image as a device back end reaches it (read, write, sectors)
    vmcs: Any  # the VMCS under VT-x (vmread/vmwrite, [field]); None elsewhere

    def skip(self) -> None:
        """Advance EIP past the instruction that caused the exit (it counts as executed)."""

    def halt(self) -> None:
        """The guest waits for its next interrupt (HLT)."""

    def inject(self, vector: int, error_code: int | None = None, software: bool = False) -> None:
        """Deliver an interrupt or exception through the guest's own IDT."""

    def port_read(self, port: int, size: int) -> int:
        """Read a virtual device port."""

    def port_write(self, port: int, size: int, value: int) -> None:
        """Write a virtual device port."""

    def console_append(self, byte: int) -> None:
        """Append a byte to the guest's console."""

    def guest_eflags(self) -> int:
        """EFLAGS as the guest should see them (virtual IF and IOPL)."""

    def effective_if(self) -> bool:
        """The interrupt flag the guest has now."""

    def native_cpuid(self, leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
        """What the host CPU's CPUID answers."""

    def blk_queue(self) -> tuple[int, int, int, int]:
        """The block ring's descriptor table, available ring, used ring and size (0s: none)."""

    def blk_complete(self) -> None:
        """A batch of block requests is done: interrupt the driver once."""

    def hypercall(self, number: int, *args: int) -> int:
        """Run the hypervisor's own handler for a hypercall (paravirt only)."""

    def note(self, key: str, value: Any) -> None:
        """Leave a note about the current exit in the trace."""


#: The plain calls of :class:`HandlerVcpu`: name -> the argument kinds the grader checks before
#: it carries the call out ("int", "int?" for an int or None, "bool", "ints" for a list of ints,
#: "str", "json" for a small JSON value). The sandbox proxy's methods are made from this table.
CALLS: dict[str, tuple[str, ...]] = {
    "skip": (),
    "halt": (),
    "inject": ("int", "int?", "bool"),
    "port_read": ("int", "int"),
    "port_write": ("int", "int", "int"),
    "console_append": ("int",),
    "guest_eflags": (),
    "effective_if": (),
    "native_cpuid": ("int", "int"),
    "hypercall": ("int", "ints"),
    "blk_queue": (),
    "blk_complete": (),
    "note": ("str", "json"),
}

#: The 16- and 8-bit parts of the general registers: name -> (32-bit register, shift, mask).
REGISTER_PARTS: dict[str, tuple[str, int, int]] = {
    "ax": ("eax", 0, 0xFFFF), "bx": ("ebx", 0, 0xFFFF), "cx": ("ecx", 0, 0xFFFF),
    "dx": ("edx", 0, 0xFFFF), "si": ("esi", 0, 0xFFFF), "di": ("edi", 0, 0xFFFF),
    "sp": ("esp", 0, 0xFFFF), "bp": ("ebp", 0, 0xFFFF),
    "al": ("eax", 0, 0xFF), "bl": ("ebx", 0, 0xFF), "cl": ("ecx", 0, 0xFF), "dl": ("edx", 0, 0xFF),
    "ah": ("eax", 8, 0xFF), "bh": ("ebx", 8, 0xFF), "ch": ("ecx", 8, 0xFF), "dh": ("edx", 8, 0xFF),
}
#: The grader's wire: the registers a call brings along to a sandboxed handler (its reads of
#: them, and of their parts, then cost no round trip) ...
SHARED_REGISTERS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")
#: ... and the requests that answer nothing, which travel with the handler's next request or
#: with the end of the call (``set_reg`` only for the shared registers).
DEFERRED = frozenset({"set_reg", "skip", "console_append"})
