"""Shadow page tables: the monitor's own tables, guest-virtual straight to host-physical.

A guest that turns CR0.PG on expects the CPU to walk *its* tables, whose addresses are
guest-physical. A software monitor (and VT-x without EPT, as on first-generation hardware)
therefore builds tables that map guest-virtual straight to host-physical and points the real
CR3 at them. They are filled lazily: an access the shadow does not map yet faults into the
monitor, which walks the guest's tables — a *hidden* fault (the monitor fixes the shadow and
resumes) or a *true* fault (the guest's own tables refuse it: the guest gets its #PF with the
right error code and CR2). The frames holding guest page tables are mapped read-only in every
shadow, so a guest write to them traps and the shadows built from them are dropped (*page-table
write trap*); that is what keeps a cache of shadows (one per guest CR3) coherent.

The monitor keeps the top 4 MiB of every shadow address space for itself (its GDT, IDT, TSS and
trampoline are addressed linearly up there), as VMware's monitor did.
"""

from __future__ import annotations

import copy
import ctypes
import struct
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from vlab import layout
from vlab.errors import GuestFault, UnmappedAccess, VlabError
from vlab.hw.paging import (
    FRAME,
    MONITOR_PDE,
    MONITOR_PT,
    PAGE,
    PF_PRESENT,
    PF_WRITE,
    PG,
    PS,
    PSE,
    RW,
    SHADOW_BASE,
    SHADOW_CACHE,
    SHADOW_PAGES,
    US,
    WP,
    A,
    D,
    P,
    PageFault,
    Walk,
    error_code_text,
    set_accessed,
    walk,
)

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

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


LARGE_FRAME = 0xFFC0_0000  # a 4 MiB page's base in its PDE


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
        self._monitor_pt = machine.memory.monitor_page_table()

    # ------------------------------------------------------------------ host memory
    def _map_pool(self) -> None:
        self._pool = self.machine.memory.host_pool(SHADOW_BASE, SHADOW_PAGES * PAGE)
        self._mem = memoryview(self._pool).cast("B").cast("I")
        self._free = [SHADOW_BASE + i * PAGE for i in range(SHADOW_PAGES - 1, -1, -1)]
        self._deferred: set[int] = set()  # tables left writable until a store completes
        self._deferred_hook: int | None = None
        self.wp = True  # the guest's CR0.WP the shadows were built for
        self.large: dict[tuple[int, int], _ShadowPage] = {}  # (guest PD, index) -> its split

    def save_state(self) -> dict:
        """The shadows (their bytes in the pool and the bookkeeping), for snapshots."""
        keep = ("pds", "pts", "large", "parents", "rmap", "active", "stats", "recent", "_free",
                "wp")
        state = {name: copy.deepcopy(getattr(self, name)) for name in keep}
        state["pool"] = bytes(self._pool)
        return state

    def load_state(self, state: dict) -> None:
        ctypes.memmove(self._pool, state["pool"], len(state["pool"]))
        for name, value in state.items():
            if name != "pool":
                setattr(self, name, copy.deepcopy(value))
        self._spt_at = {p.address: p for p in self.pts.values()}

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
        return self.machine.memory.table_u32(address)

    def _gw(self, address: int, value: int) -> None:
        self.machine.memory.write_physical(address, struct.pack("<I", value & 0xFFFF_FFFF))

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
                self.machine.memory.flush_tlb()

    # ------------------------------------------------------------------ CR0/CR3 changes
    def sync(self) -> int | None:
        """The guest's CR0 or CR3 changed: the real CR3 to load (None: guest paging is off)."""
        cr0, cr3, _ = self.guest()
        if not cr0 & PG:
            self.active = None
            return None
        if bool(cr0 & WP) != self.wp:  # what the kernel may write changed: build anew
            self.wp = bool(cr0 & WP)
            self.flush_all()
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
        self._end_deferral()
        self._map_pool_reset()
        self.pds.clear()
        self.pts.clear()
        self.large.clear()
        self.parents.clear()
        self.rmap.clear()  # (the active directory's shadow is rebuilt at the next fault)
        self._spt_at.clear()

    def _map_pool_reset(self) -> None:
        ctypes.memset(self._pool, 0, SHADOW_PAGES * PAGE)
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
        kind = "hidden"
        target = w.physical & FRAME
        if write and (target in self.pds or target in self.pts):
            kind = "pt_write"
            self.stats["pt_write_traps"] += 1
            self._unshadow(target)
            self._let_store_through(target, eip)
        else:
            self.stats["hidden_faults"] += 1
        set_accessed(self._gr, self._gw, w, write)
        self._fill(linear, w, write, eip, user)
        self.machine.memory.flush_tlb()
        rec = FaultRecord(linear, error_code, kind, eip, w, target if kind == "pt_write" else None)
        self.recent.append(rec)
        return rec

    def prefault(self, linear: int, write: bool) -> None:
        """Fill the shadow for ``linear`` now, if the guest maps it and the shadow does not yet:
        the CPU is about to touch it where vlab cannot take a #PF (reading a descriptor while a
        segment register is loaded to deliver an event). Counted as ``prefilled``."""
        if self.active is None:
            return
        have = self.shadow_walk(linear)
        if have is not None and have.ok and (not write or have.pte is None or have.pte & RW):
            return
        w = self.guest_walk(linear, write, user=False)
        if not w.ok:
            return  # the guest does not map it: the caller reports what the CPU would do
        set_accessed(self._gr, self._gw, w, write)
        self._fill(linear, w, write, self.machine.cpu.eip)
        self.machine.memory.flush_tlb()
        self.stats["prefilled"] += 1

    def _fill(self, linear: int, w: Walk, write: bool, eip: int, user: bool = False) -> None:
        if self.active is None:
            raise GuestFault("a page fault under the shadow with guest paging off", eip)
        spd = self.pds.get(self.active)
        if spd is None:  # dropped (a write to the active page directory): build it again
            spd = self._new_pd(self.active)
            self.machine.cpu.set_reg("cr3", spd.address)
        pdi, pti = linear >> 22, (linear >> 12) & 0x3FF
        if w.large:
            spt = self._large_table(spd, pdi, w)
            frame = w.physical & FRAME
            pte = self._gr(w.pde_address)  # (its A and D bits, as the walk just set them)
        else:
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
            pte = self._gr(w.pte_address)
        if layout.MONITOR_BASE > frame >= self.machine.memory.ram_size:
            raise UnmappedAccess(f"the guest's page tables map {linear:#010x} to {frame:#010x}, "
                                 f"outside guest RAM ({self.machine.memory.ram_size:#x} bytes)",
                                 frame, eip, self.machine.clock.fault_text)
        writable = bool(pte & RW) and bool(pte & D) and (
            frame in self._deferred or (frame not in self.pds and frame not in self.pts))
        spte = frame | P | (pte & US) | A | ((RW | D) if writable else 0)
        if write and not user and not pte & RW and w.pde & RW and not self.guest()[0] & WP \
                and frame not in self.pds and frame not in self.pts:
            # CR0.WP=0: the kernel may write a read-only page (SDM vol. 3A, 4.6.1). The shadow
            # lets it, and keeps the user out of that mapping (a user access faults and gets
            # the read-only one back), as KVM does
            spte = frame | P | A | RW | D
        self._w(spt.address + 4 * pti, spte)
        spt.filled[pti] = pte
        self.rmap.setdefault(frame, set()).add((spt.address, pti))

    def _large_table(self, spd: _ShadowPage, pdi: int, w: Walk) -> _ShadowPage:
        """A 4 MiB guest page (CR4.PSE, PDE.PS) is shadowed by 1,024 4 KiB entries in a table of
        its own (KVM splits large guest pages the same way), filled on demand like any other."""
        key = (spd.guest_frame, pdi)
        spt = self.large.get(key)
        if spt is not None and (spd.filled.get(pdi, 0) ^ w.pde) & ~(A | D):
            self._release_large(key)  # the guest changed that PDE: the old split is stale
            spt = None
        if spt is None:
            spt = self.large[key] = _ShadowPage(self._alloc(), w.pde & LARGE_FRAME)
            self.stats["shadow_syncs"] += 1
        self._w(spd.address + 4 * pdi, spt.address | (w.pde & (P | RW | US)) | A)
        spd.filled[pdi] = w.pde
        return spt

    def _release_large(self, key: tuple[int, int]) -> None:
        spt = self.large.pop(key)
        for i in list(spt.filled):
            self._clear_pte(spt, i)
        self._release(spt.address)

    def _let_store_through(self, frame: int, eip: int) -> None:
        """The instruction at ``eip`` that faulted writing the table at ``frame`` is re-run
        (or emulated): leave the frame writable until it has completed (the next instruction
        is about to run), then drop the shadow built from it meanwhile. Otherwise fetching the
        instruction again, when the same table maps it, shadows and protects the table before
        the store, forever."""
        try:
            insn = self.machine.memory.instruction(eip)
        except VlabError:
            return
        if insn is None:
            return
        self._deferred.add(frame)
        if self._deferred_hook is None:
            after = (eip + insn.size) & 0xFFFF_FFFF
            self._deferred_hook = self.machine.core.on_execute(self._store_done, after, after)

    def _store_done(self, uc, address: int, size: int, _) -> None:
        frames = self._end_deferral()
        for frame in frames:
            if frame in self.pts or frame in self.pds:
                self._unshadow(frame)  # (built while the store was under way: maybe stale)
        self.machine.memory.flush_tlb()

    def _end_deferral(self) -> set[int]:
        frames, self._deferred = self._deferred, set()
        if self._deferred_hook is not None:
            self.machine.core.remove_hook(self._deferred_hook)
            self._deferred_hook = None
        return frames

    def prepare_write(self, physical: int) -> bool:
        """A write to guest memory is about to happen (binary translation's callout for an
        instruction known to write page tables): if it hits a shadowed table, drop that shadow
        now, so the write runs without a trap. True if it did."""
        frame = physical & FRAME
        if frame in self._deferred or (frame not in self.pds and frame not in self.pts):
            return False  # (deferred: a store into it is under way and may write it)
        self.stats["pt_writes_prepared"] += 1
        self._unshadow(frame)
        self.machine.memory.flush_tlb()
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
            large = self.large.get((spd.guest_frame, pdi)) if gpde & PS else None
            spt = large or self.pts.get(gpde & FRAME)
            if spt is not None and pti in spt.filled:
                self._clear_pte(spt, pti)
        self.machine.memory.flush_tlb()

    # ------------------------------------------------------------------ coherence
    def _protect(self, frame: int) -> None:
        """``frame`` now holds a shadowed table: map it read-only in every shadow."""
        if frame in self._deferred:
            return  # a store into it is under way (:meth:`let_store_through`)
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
                self.machine.cpu.set_reg("cr3", spd.address)
        # the frame is plain memory again: where the guest lets it be written (and has marked
        # it dirty), its mappings become writable at once; the others stay read-only
        for spt_address, i in self.rmap.get(frame, ()):
            owner = self._spt_at.get(spt_address)
            pte = owner.filled.get(i, 0) if owner is not None else 0
            if pte & RW and pte & D:
                self._w(spt_address + 4 * i, self._r(spt_address + 4 * i) | RW | D)

    def _drop_pd(self, frame: int) -> None:
        spd = self.pds.pop(frame)
        for key in [k for k in self.large if k[0] == frame]:
            self._release_large(key)
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
            return struct.unpack("<I", self.machine.memory.read_host(address, 4))[0]
        return 0

    def shadow_walk(self, linear: int) -> Walk | None:
        """The walk the core does through the active shadow (None: no shadow active)."""
        root = self.shadow_root()
        return None if root is None else walk(self.read_shadow, root, linear)

    def summary(self) -> dict:
        """The pager's counters, for ``lab.memory_summary()``."""
        return {"shadow page directories": len(self.pds), "shadow page tables": len(self.pts),
                "active guest CR3": self.active, **dict(self.stats)}

