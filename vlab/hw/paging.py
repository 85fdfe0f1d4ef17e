"""32-bit paging as the CPU walks it (Intel SDM vol. 3, 4.3), as pure functions.

CR3 names a page directory of 1,024 PDEs, each naming a page table of 1,024 PTEs, each naming a
4 KiB frame (or, with CR4.PSE, a PDE maps 4 MiB directly). :func:`walk` reads entries through a
function it is given (guest RAM, or a monitor's shadow pool) and returns a :class:`Walk`: every
entry it read and what the access got. Nothing here touches a core; the monitors that build
tables of their own (shadow page tables, EPT) live above, in :mod:`vlab.monitor.shadow` and
:mod:`vlab.strategies.vtx.ept`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from vlab import layout
from vlab.errors import GuestException

P, RW, US, A, D, PS = 0x1, 0x2, 0x4, 0x20, 0x40, 0x80
PG, WP = 1 << 31, 1 << 16
PSE = 1 << 4  # CR4.PSE: 4 MiB pages
PAGE = 0x1000
FRAME = 0xFFFF_F000
#: Page-fault error code bits (SDM vol. 3, figure 4-12).
PF_PRESENT, PF_WRITE, PF_USER = 0x1, 0x2, 0x4
MONITOR_PDE = layout.MONITOR_BASE >> 22  # the PDE slot the monitor reserves (1023)
SHADOW_BASE = 0xE000_0000  # host memory for shadow tables: never mapped into a guest
SHADOW_PAGES = 512
SHADOW_CACHE = 8  # shadow page directories kept (one per guest CR3)


MONITOR_PT = SHADOW_BASE - PAGE  # the page table that maps the monitor's area (host memory)

class PageFault(GuestException):
    """A #PF the guest's own page tables raise (vector 14, with CR2 = ``address``)."""

    def __init__(self, reason: str, address: int, error_code: int):
        super().__init__(reason, 14, error_code)
        self.address = address


def error_code_text(code: int) -> str:
    """A page-fault error code in words (SDM vol. 3, 4.7)."""
    return ", ".join([
        "protection violation" if code & PF_PRESENT else "not present",
        "write" if code & PF_WRITE else "read",
        "user mode" if code & PF_USER else "supervisor mode",
    ])


@dataclass(frozen=True)
class Walk:
    """One walk of 32-bit page tables for ``linear`` (what a fault or a diagram shows)."""

    linear: int
    cr3: int
    pde_address: int
    pde: int
    pte_address: int | None = None
    pte: int | None = None
    physical: int | None = None
    error_code: int | None = None  # set when the walk faults
    large: bool = False

    @property
    def ok(self) -> bool:
        """Did the walk find a translation that allows the access?"""
        return self.error_code is None

    def rows(self) -> list[tuple[str, int, int]]:
        """(level, address of the entry, entry) for each level walked."""
        out = [("PDE", self.pde_address, self.pde)]
        if self.pte_address is not None:
            out.append(("PTE", self.pte_address, self.pte))
        return out


def walk(read32: Callable[[int], int], cr3: int, linear: int, *, write: bool = False,
         user: bool = False, wp: bool = True, pse: bool = False) -> Walk:
    """Walk 32-bit page tables as the CPU does and check the access (SDM vol. 3, 4.6)."""
    linear &= 0xFFFF_FFFF
    pde_address = (cr3 & FRAME) + ((linear >> 22) << 2)
    pde = read32(pde_address)
    access = (PF_WRITE if write else 0) | (PF_USER if user else 0)
    if not pde & P:
        return Walk(linear, cr3, pde_address, pde, error_code=access)
    if pde & PS and pse:
        physical = (pde & 0xFFC0_0000) | (linear & 0x3F_FFFF)
        flags = pde
        w = Walk(linear, cr3, pde_address, pde, physical=physical, large=True)
    else:
        pte_address = (pde & FRAME) + (((linear >> 12) & 0x3FF) << 2)
        pte = read32(pte_address)
        if not pte & P:
            return Walk(linear, cr3, pde_address, pde, pte_address, pte, error_code=access)
        flags = pde & pte
        w = Walk(linear, cr3, pde_address, pde, pte_address, pte,
                 physical=(pte & FRAME) | (linear & 0xFFF))
    if (user and not flags & US) or (write and not flags & RW and (user or wp)):
        return Walk(w.linear, cr3, w.pde_address, w.pde, w.pte_address, w.pte,
                    error_code=access | PF_PRESENT, large=w.large)
    return w


def set_accessed(read32: Callable[[int], int], write32: Callable[[int, int], None], w: Walk,
                 write: bool) -> None:
    """Set the Accessed (and on a write the Dirty) bits the CPU sets during a walk."""
    if not w.pde & A:
        write32(w.pde_address, w.pde | A)
    if w.pte_address is not None:
        pte = read32(w.pte_address)
        new = pte | A | (D if write else 0)
        if new != pte:
            write32(w.pte_address, new)
    elif write and not w.pde & D:  # a 4 MiB page is dirtied in its PDE
        write32(w.pde_address, read32(w.pde_address) | D)


def entry_text(entry: int, level: str = "PTE") -> str:
    """A PDE/PTE in words: frame and flags."""
    if not entry & P:
        return "not present"
    flags = [n for bit, n in ((RW, "W"), (US, "U"), (A, "A"), (D, "D")) if entry & bit]
    if level == "PDE" and entry & PS:
        flags.append("4M")
    return f"frame {entry & FRAME:#010x} P {' '.join(flags)}".rstrip()



def mapped_pages(read32: Callable[[int], int], cr3: int, limit: int = 64,
                 skip_pde: int | None = MONITOR_PDE) -> list[tuple[int, int, int]]:
    """(linear page, entry, frame) of present 4 KiB mappings under ``cr3``, lowest first."""
    out = []
    for i in range(1024):
        if i == skip_pde:
            continue
        pde = read32((cr3 & FRAME) + 4 * i)
        if not pde & P or pde & PS:
            continue
        for j in range(1024):
            pte = read32((pde & FRAME) + 4 * j)
            if pte & P:
                out.append(((i << 22) | (j << 12), pte, pte & FRAME))
                if len(out) >= limit:
                    return out
    return out
