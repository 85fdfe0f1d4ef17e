"""How one guest-virtual address reaches memory under the active strategy (the lab's view).

The guest's own walk (GVA -> GPA), and beside it what the core really uses: the shadow's walk
(GVA -> HPA), or the EPT entry (GPA -> HPA). Reading it changes nothing in the guest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlab.hw.paging import FRAME, PG, PSE, Walk, entry_text, error_code_text, walk
from vlab.strategies.vtx.ept import ept_rights

if TYPE_CHECKING:
    from vlab.hw.machine import Machine
    from vlab.monitor.base import Strategy


@dataclass
class Translation:
    """How one guest-virtual address reaches memory under the active strategy: the guest's own
    walk (GVA -> GPA), and what the core really uses (the shadow's walk GVA -> HPA, or the EPT
    entry GPA -> HPA)."""

    linear: int
    mechanism: str  # "none" | "guest page tables" | "shadow page tables" | "EPT" | "direct (PV)"
    guest: Walk | None = None
    shadow: Walk | None = None
    ept: tuple[int, int, int] | None = None  # (GPA page, HPA page, permissions) or None
    gpa: int | None = None
    hpa: int | None = None

    def lines(self) -> list[str]:
        """The translation as text, one level per line."""
        out = [f"GVA {self.linear:#010x} ({self.mechanism})"]
        if self.guest is not None:
            for level, address, entry in self.guest.rows():
                out.append(f"  guest {level} @ {address:#010x} = {entry:#010x} "
                           f"({entry_text(entry, level)})")
            if not self.guest.ok:
                out.append(f"  guest walk faults: {error_code_text(self.guest.error_code)}")
        if self.gpa is not None:
            out.append(f"  GPA {self.gpa:#010x}")
        if self.shadow is not None:
            for level, address, entry in self.shadow.rows():
                out.append(f"  shadow {level} @ {address:#010x} = {entry:#010x} "
                           f"({entry_text(entry, level)})")
            if not self.shadow.ok:
                out.append("  not in the shadow yet: the next access is a hidden fault")
        if self.ept is not None:
            g, h, p = self.ept
            out.append(f"  EPT {g:#010x} -> {h:#010x} ({ept_rights(p) or '-'})")
        elif self.mechanism == "EPT" and self.gpa is not None:
            out.append("  EPT: not mapped (the next access is an EPT violation)")
        if self.hpa is not None:
            out.append(f"  HPA {self.hpa:#010x}")
        return out


def describe(machine: Machine, strategy: Strategy, linear: int) -> Translation:
    """The :class:`Translation` of ``linear`` as things stand (no side effects)."""
    linear &= 0xFFFF_FFFF
    caps = strategy.capabilities
    pager = strategy.pager if "shadow_paging" in caps else None
    ept = strategy.ept if "ept" in caps else None
    if pager is not None and pager.enabled():
        g = pager.guest_walk(linear)
        s = pager.shadow_walk(linear)
        return Translation(linear, "shadow page tables", g, s, gpa=g.physical if g.ok else None,
                           hpa=s.physical if s is not None and s.ok else None)
    if not machine.cpu.reg("cr0") & PG:
        gpa = linear
        t = Translation(linear, "none (paging off)", gpa=gpa)
    else:
        cpu = machine.cpu
        g = walk(machine.memory.table_u32, cpu.reg("cr3"), linear,
                 pse=bool(cpu.reg("cr4") & PSE))
        mech = "direct paging (PV, validated)" if "pv_mmu" in caps else "guest page tables"
        t = Translation(linear, mech, g, gpa=g.physical if g.ok else None)
    if ept is not None and t.gpa is not None:
        t.mechanism = "EPT" if t.guest is None else "guest page tables + EPT"
        perms = ept.present.get(t.gpa >> 12)
        if perms:
            t.ept = (t.gpa & FRAME, t.gpa & FRAME, perms)
            t.hpa = t.gpa
    elif t.gpa is not None:
        t.hpa = t.gpa
    return t

