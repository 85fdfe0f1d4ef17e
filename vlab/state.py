"""Immutable records of CPU state that flow from the machine to the lab, the UI and the grader."""

from __future__ import annotations

from dataclasses import dataclass, fields

# EFLAGS bits (Intel SDM vol. 1, 3.4.3)
CF, PF, AF, ZF, SF, TF, IF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
IOPL_MASK, NT, RF, VM, AC, ID = 0x3000, 0x4000, 0x10000, 0x20000, 0x40000, 0x200000


@dataclass(frozen=True)
class Eflags:
    """EFLAGS decoded into its named bits."""

    value: int
    CF: bool
    PF: bool
    AF: bool
    ZF: bool
    SF: bool
    TF: bool
    IF: bool
    DF: bool
    OF: bool
    IOPL: int
    NT: bool
    RF: bool
    VM: bool
    AC: bool
    ID: bool

    @classmethod
    def decode(cls, value: int) -> Eflags:
        b = lambda m: bool(value & m)  # noqa: E731
        return cls(value, b(CF), b(PF), b(AF), b(ZF), b(SF), b(TF), b(IF), b(DF), b(OF),
                   (value & IOPL_MASK) >> 12, b(NT), b(RF), b(VM), b(AC), b(ID))

    def __str__(self) -> str:
        names = [f.name for f in fields(self) if f.name not in ("value", "IOPL") and getattr(self, f.name)]
        return f"{self.value:#010x} [{' '.join(names)} IOPL={self.IOPL}]"


@dataclass(frozen=True)
class TableRegister:
    """GDTR or IDTR: base and limit."""

    base: int
    limit: int

    def __str__(self) -> str:
        return f"base={self.base:#010x} limit={self.limit:#06x}"

    def __repr__(self) -> str:  # (an address in hex, wherever it is printed: a trace's changes)
        return f"TableRegister(base={self.base:#010x}, limit={self.limit:#06x})"


GENERAL = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")
SEGMENTS = ("cs", "ds", "es", "fs", "gs", "ss")


@dataclass(frozen=True)
class CpuState:
    """A snapshot of the core as the hardware sees it (``Lab.state()`` adds the guest's view)."""

    eax: int
    ebx: int
    ecx: int
    edx: int
    esi: int
    edi: int
    ebp: int
    esp: int
    eip: int
    eflags: Eflags
    cpl: int
    cr0: int
    cr2: int
    cr3: int
    cr4: int
    gdtr: TableRegister
    idtr: TableRegister
    cs: int
    ds: int
    es: int
    fs: int
    gs: int
    ss: int
    tr: int
    ldtr: int
    vmx_mode: str  # "off" (no VMX), "root" or "non-root"
    instructions: int  # guest instructions retired
    vtime: int  # virtual time: instructions retired plus time skipped by HLT

    @property
    def registers(self) -> dict[str, int]:
        """General registers and EIP by name."""
        return {r: getattr(self, r) for r in (*GENERAL, "eip")}

    def diff(self, other: CpuState) -> dict[str, tuple[object, object]]:
        """Fields that differ from ``other``: name -> (this, other)."""
        skip = {"instructions", "vtime"}
        return {f.name: (getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
                if f.name not in skip and getattr(self, f.name) != getattr(other, f.name)}
