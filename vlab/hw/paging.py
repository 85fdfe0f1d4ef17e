"""Memory virtualization: the guest's page tables, the monitor's shadow page tables, and EPT.

32-bit paging (Intel SDM vol. 3, 4.3): CR3 names a page directory of 1,024 PDEs, each naming a
page table of 1,024 PTEs, each naming a 4 KiB frame. A guest that turns CR0.PG on expects the CPU
to walk *its* tables. Under a monitor the addresses in those tables are guest-physical, so:

- **Shadow page tables** (software monitors, and VT-x without EPT as on first-generation
  hardware): the monitor builds tables that map guest-virtual straight to host-physical and points
  the real CR3 at them. They are filled lazily: an access the shadow does not map yet faults into
  the monitor, which walks the guest's tables — a *hidden* fault (the monitor fixes the shadow and
  resumes) or a *true* fault (the guest's own tables refuse it: the guest gets its #PF with the
  right error code and CR2). The frames holding guest page tables are mapped read-only in every
  shadow, so a guest write to them traps and the shadows built from them are dropped (*page-table
  write trap*); that is what keeps a cache of shadows (one per guest CR3) coherent.
- **EPT** (:class:`Ept`, VT-x): the guest's own tables translate guest-virtual to guest-physical in
  hardware, and a second table maps guest-physical to host-physical. CR3 loads and guest page
  faults need no monitor at all; only an access to a guest-physical page the EPT does not map
  exits (reason 48, EPT violation), and the handler may map it then (demand allocation).

The monitor keeps the top 4 MiB of every shadow address space for itself (its GDT, IDT, TSS and
trampoline are addressed linearly up there), as VMware's monitor did.
"""

from __future__ import annotations

import ctypes
import struct
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import unicorn

from vlab import layout
from vlab.errors import GuestException, GuestFault, UnmappedAccess

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

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


def monitor_page_table(machine: Machine) -> int:
    """The page table (in host memory) that maps the monitor's 64 KiB at the top of every
    address space the monitor builds (shadow page directories; a paravirtual guest's own)."""
    if not getattr(machine, "_monitor_pt_mapped", False):
        machine.uc.mem_map(MONITOR_PT, PAGE, unicorn.UC_PROT_ALL)
        first = (layout.MONITOR_BASE >> 12) & 0x3FF
        entries = b"".join(struct.pack("<I", (layout.MONITOR_BASE + i * PAGE) | P | RW | A | D)
                           for i in range(layout.MONITOR_SIZE // PAGE))
        machine.uc.mem_write(MONITOR_PT + 4 * first, entries)
        machine._monitor_pt_mapped = True
    return MONITOR_PT


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


@dataclass(frozen=True)
class FaultRecord:
    """A page fault the monitor saw, and what it did about it (for the lab's views)."""

    linear: int
    error_code: int
    kind: str  # "hidden" | "true" | "pt_write"
    eip: int
    guest: Walk | None = None
    frame: int | None = None  # the guest page-table frame written (pt_write)

    def text(self) -> str:
        """The fault in one line, for the lab's views."""
        what = {"hidden": "hidden fault: the monitor filled its shadow",
                "true": "true fault: injected into the guest as #PF",
                "pt_write": "page-table write: the shadows built from that frame were dropped"}
        return (f"{self.linear:#010x} ({error_code_text(self.error_code)}) at EIP "
                f"{self.eip:#010x}: {what[self.kind]}")


@dataclass
class _ShadowPage:
    address: int  # host-physical
    guest_frame: int
    filled: dict[int, int] = field(default_factory=dict)  # index -> guest entry it came from


class ShadowPager:
    """Shadow page tables for one guest: guest-virtual -> host-physical, filled on demand.

    ``guest()`` returns the guest's (CR0, CR3, CR4) as it believes them; the strategy calls
    :meth:`sync` after any of them changes and loads the real CR3 it returns.
    """

    def __init__(self, machine: Machine, guest: Callable[[], tuple[int, int, int]]):
        self.machine = machine
        self.guest = guest
        self._map_pool()
        self.pds: dict[int, _ShadowPage] = {}  # guest PD frame -> shadow PD (the cache)
        self.pts: dict[int, _ShadowPage] = {}  # guest PT frame -> shadow PT (shared by PDs)
        self.parents: dict[int, set[int]] = {}  # guest PT frame -> guest PD frames using it
        self.rmap: dict[int, set[tuple[int, int]]] = {}  # frame -> {(shadow PT, index)}
        self._spt_at: dict[int, _ShadowPage] = {}  # shadow PT address -> its page
        self.active: int | None = None  # guest PD frame whose shadow the core uses
        self.stats: Counter[str] = Counter()
        self.recent: deque[FaultRecord] = deque(maxlen=200)
        self._monitor_pt = monitor_page_table(machine)

    # ------------------------------------------------------------------ host memory
    def _map_pool(self) -> None:
        m = self.machine
        buf = getattr(m, "_shadow_buf", None)
        if buf is None:
            buf = m._shadow_buf = (ctypes.c_ubyte * (SHADOW_PAGES * PAGE))()
            m.uc.mem_map_ptr(SHADOW_BASE, SHADOW_PAGES * PAGE, unicorn.UC_PROT_ALL,
                             ctypes.addressof(buf))
        self._mem = memoryview(buf).cast("B").cast("I")
        self._map_pool_reset()

    def _alloc(self) -> int:
        if not self._free:
            self.flush_all()  # out of shadow memory: start again (a classic monitor's answer)
            self.stats["pool_flushes"] += 1
        return self._free.pop()

    def _release(self, address: int) -> None:
        i = (address - SHADOW_BASE) >> 2
        self._mem[i:i + 1024] = memoryview(bytes(PAGE)).cast("I")
        self._free.append(address)

    def _r(self, address: int) -> int:
        return self._mem[(address - SHADOW_BASE) >> 2]

    def _w(self, address: int, value: int) -> None:
        self._mem[(address - SHADOW_BASE) >> 2] = value & 0xFFFF_FFFF

    def _gr(self, address: int) -> int:
        return self.machine.table_u32(address)

    def _gw(self, address: int, value: int) -> None:
        self.machine.write_physical(address, struct.pack("<I", value & 0xFFFF_FFFF))

    # ------------------------------------------------------------------ the guest's view
    def enabled(self) -> bool:
        """Has the guest turned paging on (its CR0.PG)?"""
        return bool(self.guest()[0] & PG)

    def guest_walk(self, linear: int, write: bool = False, user: bool = False) -> Walk:
        """Walk the guest's own tables for ``linear`` (no side effects)."""
        cr0, cr3, cr4 = self.guest()
        return walk(self._gr, cr3, linear, write=write, user=user, wp=bool(cr0 & WP),
                    pse=bool(cr4 & PSE))

    def translate(self, linear: int, write: bool = False, accessed: bool = True) -> int:
        """Guest-virtual -> guest-physical through the *guest's* tables (what the monitor does
        when it reads guest memory for a handler), setting A/D as the CPU would."""
        w = self.guest_walk(linear, write)
        if not w.ok:
            raise PageFault(f"page fault at {linear:#010x} ({error_code_text(w.error_code)})",
                            linear, w.error_code)
        if accessed:
            set_accessed(self._gr, self._gw, w, write)
        return w.physical

    def host_write(self, physical: int, size: int) -> None:
        """The monitor wrote guest memory (an emulated store): keep the shadows coherent."""
        for frame in {physical & FRAME, (physical + size - 1) & FRAME}:
            if frame in self.pds or frame in self.pts:
                self._unshadow(frame)
                self.machine.flush_tlb()

    # ------------------------------------------------------------------ CR0/CR3 changes
    def sync(self) -> int | None:
        """The guest's CR0 or CR3 changed: the real CR3 to load (None: guest paging is off)."""
        cr0, cr3, _ = self.guest()
        if not cr0 & PG:
            self.active = None
            return None
        frame = cr3 & FRAME
        self.stats["cr3_loads"] += 1
        spd = self.pds.get(frame)
        if spd is None:
            self.stats["shadow_misses"] += 1
            spd = self._new_pd(frame)
        else:
            self.stats["shadow_hits"] += 1
            self.pds[frame] = self.pds.pop(frame)  # most recently used last
        self.active = frame
        return spd.address

    def _new_pd(self, frame: int) -> _ShadowPage:
        while len(self.pds) >= SHADOW_CACHE:
            oldest = next(f for f in self.pds if f != self.active)
            self._drop_pd(oldest)
        spd = _ShadowPage(self._alloc(), frame)
        self._w(spd.address + 4 * MONITOR_PDE, self._monitor_pt | P | RW | A)
        self.pds[frame] = spd
        self._protect(frame)
        return spd

    def flush_all(self) -> None:
        """Forget every shadow (after a snapshot is restored, or when memory runs out)."""
        self._map_pool_reset()
        self.pds.clear()
        self.pts.clear()
        self.parents.clear()
        self.rmap.clear()  # (the active directory's shadow is rebuilt at the next fault)
        self._spt_at.clear()

    def _map_pool_reset(self) -> None:
        ctypes.memset(self.machine._shadow_buf, 0, SHADOW_PAGES * PAGE)
        self._free = [SHADOW_BASE + i * PAGE for i in range(SHADOW_PAGES - 1, -1, -1)]

    # ------------------------------------------------------------------ faults
    def page_fault(self, linear: int, error_code: int, eip: int, user: bool) -> FaultRecord:
        """A #PF the core raised under the shadow: classify it and (unless true) fix it."""
        write = bool(error_code & PF_WRITE)
        w = self.guest_walk(linear, write, user)
        if (linear >> 22) == MONITOR_PDE and (w.ok or w.error_code & PF_PRESENT):
            raise GuestFault(f"the guest mapped {linear:#010x}: linear addresses from "
                             f"{MONITOR_PDE << 22:#010x} up are reserved by vlab's monitor "
                             "(as VMware's were)", eip)
        if not w.ok:
            self.stats["true_faults"] += 1
            rec = FaultRecord(linear, w.error_code, "true", eip, w)
            self.recent.append(rec)
            return rec
        if w.large:
            raise GuestFault("the guest uses 4 MiB pages (CR4.PSE): vlab's shadow pager maps "
                             "4 KiB pages only", eip)
        kind = "hidden"
        target = w.physical & FRAME
        if write and (target in self.pds or target in self.pts):
            kind = "pt_write"
            self.stats["pt_write_traps"] += 1
            self._unshadow(target)
        else:
            self.stats["hidden_faults"] += 1
        set_accessed(self._gr, self._gw, w, write)
        self._fill(linear, w, write, eip)
        self.machine.flush_tlb()
        rec = FaultRecord(linear, error_code, kind, eip, w, target if kind == "pt_write" else None)
        self.recent.append(rec)
        return rec

    def _fill(self, linear: int, w: Walk, write: bool, eip: int) -> None:
        if self.active is None:
            raise GuestFault("a page fault under the shadow with guest paging off", eip)
        spd = self.pds.get(self.active)
        if spd is None:  # dropped (a write to the active page directory): build it again
            spd = self._new_pd(self.active)
            self.machine.set_reg("cr3", spd.address)
        pdi, pti = linear >> 22, (linear >> 12) & 0x3FF
        gpt = w.pde & FRAME
        spt = self.pts.get(gpt)
        if spt is None:
            spt = self.pts[gpt] = _ShadowPage(self._alloc(), gpt)
            self._spt_at[spt.address] = spt
            self._protect(gpt)
            self.stats["shadow_syncs"] += 1
        spde = spt.address | (w.pde & (P | RW | US)) | A
        if self._r(spd.address + 4 * pdi) != spde:
            self._w(spd.address + 4 * pdi, spde)
            spd.filled[pdi] = w.pde
            self.parents.setdefault(gpt, set()).add(spd.guest_frame)
        frame = w.pte & FRAME
        if layout.MONITOR_BASE > frame >= self.machine.ram_size:
            raise UnmappedAccess(f"the guest's page tables map {linear:#010x} to {frame:#010x}, "
                                 f"outside guest RAM ({self.machine.ram_size:#x} bytes)",
                                 frame, eip, self.machine.fault_text)
        pte = self._gr(w.pte_address)
        writable = bool(pte & RW) and bool(pte & D) and frame not in self.pds \
            and frame not in self.pts
        spte = frame | P | (pte & US) | A | ((RW | D) if writable else 0)
        self._w(spt.address + 4 * pti, spte)
        spt.filled[pti] = pte
        self.rmap.setdefault(frame, set()).add((spt.address, pti))

    def prepare_write(self, physical: int) -> bool:
        """A write to guest memory is about to happen (binary translation's callout for an
        instruction known to write page tables): if it hits a shadowed table, drop that shadow
        now, so the write runs without a trap. True if it did."""
        frame = physical & FRAME
        if frame not in self.pds and frame not in self.pts:
            return False
        self.stats["pt_writes_prepared"] += 1
        self._unshadow(frame)
        self.machine.flush_tlb()
        return True

    def invlpg(self, linear: int) -> None:
        """INVLPG: forget what the shadow holds for ``linear`` (and its PDE if that changed)."""
        self.stats["invlpg"] += 1
        spd = self.pds.get(self.active) if self.active is not None else None
        if spd is None:
            return
        pdi, pti = linear >> 22, (linear >> 12) & 0x3FF
        if pdi == MONITOR_PDE or pdi not in spd.filled:
            return
        gpde = self._gr(spd.guest_frame + 4 * pdi)
        if (gpde ^ spd.filled[pdi]) & ~(A | D):
            self._w(spd.address + 4 * pdi, 0)
            del spd.filled[pdi]
        else:
            spt = self.pts.get(gpde & FRAME)
            if spt is not None and pti in spt.filled:
                self._clear_pte(spt, pti)
        self.machine.flush_tlb()

    # ------------------------------------------------------------------ coherence
    def _protect(self, frame: int) -> None:
        """``frame`` now holds a shadowed table: map it read-only in every shadow."""
        for spt, i in self.rmap.get(frame, ()):
            e = self._r(spt + 4 * i)
            if e & RW:
                self._w(spt + 4 * i, e & ~RW)

    def _clear_pte(self, spt: _ShadowPage, index: int) -> None:
        frame = self._r(spt.address + 4 * index) & FRAME
        self._w(spt.address + 4 * index, 0)
        spt.filled.pop(index, None)
        refs = self.rmap.get(frame)
        if refs is not None:
            refs.discard((spt.address, index))

    def _unshadow(self, frame: int) -> None:
        """The guest wrote a frame a shadow was built from: drop that shadow."""
        self.stats["shadow_drops"] += 1
        spt = self.pts.pop(frame, None)
        if spt is not None:
            for gpd in self.parents.pop(frame, set()):
                spd = self.pds.get(gpd)
                if spd is None:
                    continue
                for i, e in list(spd.filled.items()):
                    if e & FRAME == frame:
                        self._w(spd.address + 4 * i, 0)
                        del spd.filled[i]
            for i in list(spt.filled):
                self._clear_pte(spt, i)
            self._spt_at.pop(spt.address, None)
            self._release(spt.address)
        if frame in self.pds:
            self._drop_pd(frame)
            if frame == self.active:  # the active directory itself: start a fresh shadow
                spd = self._new_pd(frame)
                self.machine.set_reg("cr3", spd.address)
        # the frame is plain memory again: where the guest lets it be written (and has marked
        # it dirty), its mappings become writable at once; the others stay read-only
        for spt_address, i in self.rmap.get(frame, ()):
            owner = self._spt_at.get(spt_address)
            pte = owner.filled.get(i, 0) if owner is not None else 0
            if pte & RW and pte & D:
                self._w(spt_address + 4 * i, self._r(spt_address + 4 * i) | RW | D)

    def _drop_pd(self, frame: int) -> None:
        spd = self.pds.pop(frame)
        for e in spd.filled.values():
            users = self.parents.get(e & FRAME)
            if users is not None:
                users.discard(frame)
        self._release(spd.address)

    # ------------------------------------------------------------------ for the lab
    def shadow_root(self) -> int | None:
        """Host-physical address of the shadow directory the core uses (None: none)."""
        if self.active is None or self.active not in self.pds:
            return None
        return self.pds[self.active].address

    def read_shadow(self, address: int) -> int:
        """One dword of the shadow tables (or of the monitor's own page table)."""
        if SHADOW_BASE <= address < SHADOW_BASE + SHADOW_PAGES * PAGE:
            return self._r(address)
        if MONITOR_PT <= address < MONITOR_PT + PAGE:
            return struct.unpack("<I", self.machine.uc.mem_read(address, 4))[0]
        return 0

    def shadow_walk(self, linear: int) -> Walk | None:
        """The walk the core does through the active shadow (None: no shadow active)."""
        root = self.shadow_root()
        return None if root is None else walk(self.read_shadow, root, linear)

    def summary(self) -> dict:
        """The pager's counters, for ``lab.memory_summary()``."""
        return {"shadow page directories": len(self.pds), "shadow page tables": len(self.pts),
                "active guest CR3": self.active, **dict(self.stats)}


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
            machine.uc.mem_unmap(0, machine.ram_size)
        else:
            self.present = {gfn: 7 for gfn in range(machine.ram_size >> 12)}

    def map(self, gpa: int) -> None:
        """Map the guest-physical page holding ``gpa`` (read, write, execute)."""
        m = self.machine
        gfn = gpa >> 12
        if not 0 <= gpa < m.ram_size:
            raise GuestFault(f"EPT: {gpa:#010x} is not guest RAM ({m.ram_size:#x} bytes)", m.eip)
        if gfn in self.present:
            return
        m.uc.mem_map_ptr(gfn << 12, PAGE, unicorn.UC_PROT_ALL,
                         ctypes.addressof(m._ram_buf) + (gfn << 12))
        self.present[gfn] = 7

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


# ---------------------------------------------------------------------------- the lab's view
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


def describe(machine: Machine, strategy, linear: int) -> Translation:
    """The :class:`Translation` of ``linear`` as things stand (no side effects)."""
    linear &= 0xFFFF_FFFF
    pager = getattr(strategy, "pager", None)
    ept = getattr(strategy, "ept", None)
    if pager is not None and pager.enabled():
        g = pager.guest_walk(linear)
        s = pager.shadow_walk(linear)
        return Translation(linear, "shadow page tables", g, s, gpa=g.physical if g.ok else None,
                           hpa=s.physical if s is not None and s.ok else None)
    if not machine.reg("cr0") & PG:
        gpa = linear
        t = Translation(linear, "none (paging off)", gpa=gpa)
    else:
        r = machine._regs.read
        from unicorn import x86_const as X

        g = walk(machine.table_u32, r(X.UC_X86_REG_CR3), linear,
                 pse=bool(r(X.UC_X86_REG_CR4) & PSE))
        mech = "direct paging (PV, validated)" if getattr(strategy, "name", "") == "paravirt" \
            else "guest page tables"
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
