"""Extended page tables (VT-x): guest-physical -> host-physical, checked by the (modelled) CPU.

With EPT the guest's own tables translate guest-virtual to guest-physical in hardware, and a
second table maps guest-physical to host-physical. CR3 loads and guest page faults need no
monitor at all; only an access to a guest-physical page the EPT does not map exits (reason 48,
EPT violation), and the handler may map it then (demand allocation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlab.errors import GuestFault

if TYPE_CHECKING:
    from vlab.hw.machine import Machine


class Ept:
    """Extended page tables: guest-physical -> host-physical, checked by the (modelled) CPU.

    vlab's EPT maps each guest frame to the host frame of the same number (guest RAM is one
    host buffer); what it really controls is *which* guest frames are present. A frame not in the
    EPT is not in the core at all, so the first access to it stops the guest at that instruction
    and becomes an EPT-violation exit; the handler maps it (with :meth:`map`) and the access is
    retried. With ``lazy`` (the default, as KVM does) guest RAM starts unmapped: demand
    allocation. EPT entries here are all-or-nothing (read, write and execute).
    """

    def __init__(self, machine: Machine, lazy: bool = True):
        self.machine = machine
        self.present: dict[int, int] = {}  # guest frame number -> permissions (R=1 W=2 X=4)
        self.lazy = lazy
        self.violations = 0
        if lazy:
            machine.memory.unmap_ram()
        else:
            self.present = {gfn: 7 for gfn in range(machine.memory.ram_size >> 12)}

    def map(self, gpa: int) -> None:
        """Map the guest-physical page holding ``gpa`` (read, write, execute)."""
        m = self.machine
        gfn = gpa >> 12
        if not 0 <= gpa < m.memory.ram_size:
            raise GuestFault(f"EPT: {gpa:#010x} is not guest RAM ({m.memory.ram_size:#x} bytes)", m.cpu.eip)
        if gfn in self.present:
            return
        m.memory.map_ram_page(gfn)
        self.present[gfn] = 7

    def save_state(self) -> tuple:
        return dict(self.present), self.violations

    def load_state(self, state: tuple) -> None:
        """Back to an earlier EPT: frames it did not map leave the core again (so their next
        access is an EPT violation, as it was then)."""
        present, self.violations = state
        m = self.machine
        for gfn in set(self.present) - set(present):
            m.memory.unmap_ram_page(gfn)
        for gfn in set(present) - set(self.present):
            m.memory.map_ram_page(gfn)
        self.present = dict(present)

    def entries(self) -> list[tuple[int, int, int]]:
        """(guest frame, host frame, permissions), in guest-physical order."""
        return [(g << 12, g << 12, p) for g, p in sorted(self.present.items())]


def ept_rights(permissions: int) -> str:
    """EPT permissions as letters: "RWX", "R", ... (bit 0 read, 1 write, 2 execute)."""
    return "".join(c for c, bit in (("R", 1), ("W", 2), ("X", 4)) if permissions & bit)


def ept_qualification(access: str, permissions: int = 0, linear_valid: bool = True,
                      final: bool = True) -> int:
    """EPT-violation exit qualification (SDM vol. 3, table 28-7): bit 0 data read, 1 data
    write, 2 instruction fetch; bits 5:3 what the EPT entry allowed (read, write, execute);
    bit 7 guest linear address valid; bit 8 the access was to the final translation (not to a
    paging-structure entry during the walk)."""
    bit = {"read": 0x1, "write": 0x2, "fetch": 0x4}[access]
    qual = bit | ((permissions & 7) << 3)
    if linear_valid:
        qual |= 0x80 | (0x100 if final else 0)
    return qual


def decode_ept_qualification(qual: int) -> dict:
    """The bits of an EPT-violation qualification by name."""
    return {"read": bool(qual & 1), "write": bool(qual & 2), "fetch": bool(qual & 4),
            "readable": bool(qual & 8), "writable": bool(qual & 0x10),
            "executable": bool(qual & 0x20), "linear_valid": bool(qual & 0x80),
            "final_translation": bool(qual & 0x100)}

