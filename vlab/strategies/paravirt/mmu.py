"""The paravirtual MMU: the guest's page tables are the real ones, so the hypervisor validates
every change (Xen's direct paging with frame types: pin, mmu_update, mmuext_op).
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import TYPE_CHECKING

from vlab.hw import paging
from vlab.strategies.paravirt.abi import (
    _MMUEXT_NAMES,
    EINVAL,
    EPERM,
    MMUEXT_INVLPG_LOCAL,
    MMUEXT_NEW_BASEPTR,
    MMUEXT_PIN_L2_TABLE,
    MMUEXT_TLB_FLUSH_LOCAL,
    MMUEXT_UNPIN_TABLE,
)

if TYPE_CHECKING:
    from vlab.strategies.paravirt import Paravirt


class PvMmu:
    """Direct paging, as Xen's for paravirtual guests: the guest's own page tables are the ones
    the core walks (no shadow), but the guest may only change them through the hypervisor, which
    keeps every frame's *type*: a frame in use as a page directory (pinned L2) or page table
    (L1, referenced from a pinned directory) may never be mapped writable, and no entry may map
    a frame the guest does not own. The top 4 MiB of every directory belong to the hypervisor."""

    def __init__(self, hv: Paravirt):
        self.hv = hv
        self.machine = hv.machine
        self.l2: set[int] = set()  # pinned page directories (frame addresses)
        self.l1: Counter[int] = Counter()  # page tables -> references from pinned directories
        self.writable: Counter[int] = Counter()  # frame -> writable mappings in typed tables
        self.base: int | None = None
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ frames
    def owned(self, frame: int) -> bool:
        """Is ``frame`` the guest's own memory?"""
        return 0 <= frame and frame + 0x1000 <= self.machine.memory.ram_size

    def _entries(self, frame: int) -> list[int]:
        raw = self.machine.memory.read_physical(frame, 0x1000)
        return list(struct.unpack("<1024I", raw))

    def _write(self, address: int, value: int) -> None:
        self.machine.memory.write_physical(address, struct.pack("<I", value & 0xFFFF_FFFF))

    def _check_l1(self, frame: int) -> int:
        """0 if ``frame`` may become a page table, else the error."""
        if not self.owned(frame):
            return EPERM
        if self.writable[frame] or frame in self.l2:
            return EINVAL  # mapped writable somewhere, or a directory: not a page table
        for e in self._entries(frame):
            if e & paging.P:
                target = e & paging.FRAME
                if not self.owned(target):
                    return EPERM
                if e & paging.RW and (target in self.l1 or target in self.l2 or target == frame):
                    return EINVAL
        return 0

    def _ref_l1(self, frame: int) -> None:
        if self.l1[frame] == 0:
            for e in self._entries(frame):
                if e & paging.P and e & paging.RW:
                    self.writable[e & paging.FRAME] += 1
        self.l1[frame] += 1

    def _unref_l1(self, frame: int) -> None:
        self.l1[frame] -= 1
        if self.l1[frame] <= 0:
            del self.l1[frame]
            for e in self._entries(frame):
                if e & paging.P and e & paging.RW:
                    self.writable[e & paging.FRAME] -= 1

    # ------------------------------------------------------------------ mmuext_op
    def ext_op(self, cmd: int, arg: int) -> int:
        """One mmuext_op command; 0 or the error the guest gets."""
        self.stats[_MMUEXT_NAMES.get(cmd, f"mmuext {cmd}")] += 1
        if cmd == MMUEXT_PIN_L2_TABLE:
            return self.pin(arg << 12)
        if cmd == MMUEXT_UNPIN_TABLE:
            return self.unpin(arg << 12)
        if cmd == MMUEXT_NEW_BASEPTR:
            return self.new_baseptr(arg << 12)
        if cmd in (MMUEXT_TLB_FLUSH_LOCAL, MMUEXT_INVLPG_LOCAL):
            self.machine.memory.flush_tlb()
            return 0
        return EINVAL

    def pin(self, pd: int) -> int:
        """Validate a page directory and all it maps; from now on it is a directory."""
        if not self.owned(pd):
            return EPERM
        if pd in self.l2 or pd in self.l1:
            return EINVAL
        entries = self._entries(pd)
        if entries[paging.MONITOR_PDE] & paging.P:
            return EPERM  # the hypervisor's own slot
        tables = [e & paging.FRAME for e in entries[:paging.MONITOR_PDE] if e & paging.P]
        for t in tables:
            if t not in self.l1:
                error = self._check_l1(t)
                if error:
                    return error
        for t in tables:
            self._ref_l1(t)
        if self.writable[pd]:
            for t in tables:
                self._unref_l1(t)
            return EINVAL  # still mapped writable: the guest could rewrite it behind our back
        self.l2.add(pd)
        self._write(pd + 4 * paging.MONITOR_PDE,
                    self.machine.memory.monitor_page_table() | paging.P | paging.RW | paging.A)
        return 0

    def unpin(self, pd: int) -> int:
        """Release a pinned directory (never the one in use); its tables lose their type."""
        if pd not in self.l2 or pd == self.base:
            return EINVAL
        for e in self._entries(pd)[:paging.MONITOR_PDE]:
            if e & paging.P:
                self._unref_l1(e & paging.FRAME)
        self._write(pd + 4 * paging.MONITOR_PDE, 0)
        self.l2.discard(pd)
        return 0

    def new_baseptr(self, pd: int) -> int:
        """Load CR3 with a pinned directory (paging on from the first one)."""
        if not self.owned(pd):
            return EPERM
        if pd not in self.l2:
            return EINVAL
        m = self.machine
        self.base = pd
        self.hv.vcpu.virt.CR3 = pd
        m.cpu.set_reg("cr3", pd)
        m.cpu.set_reg("cr0", m.cpu.reg("cr0") | paging.PG | paging.WP)
        return 0

    # ------------------------------------------------------------------ mmu_update
    def update(self, where: int, value: int) -> int:
        """Write one entry of a pinned directory or of a page table, after checking it."""
        frame, index = where & paging.FRAME, (where >> 2) & 0x3FF
        target = value & paging.FRAME
        if not self.owned(frame) or (value & paging.P and not self.owned(target)):
            return EPERM  # another's memory: refused
        old = self.machine.memory.table_u32(where)  # (a frame of the guest's: checked above)
        if frame in self.l2:
            if index >= paging.MONITOR_PDE:
                return EPERM
            if value & paging.P and target not in self.l1:
                error = self._check_l1(target)
                if error:
                    return error
            if value & paging.P:
                self._ref_l1(target)
            if old & paging.P:
                self._unref_l1(old & paging.FRAME)
        elif frame in self.l1:
            if value & paging.P and value & paging.RW and (target in self.l1 or target in self.l2):
                return EINVAL  # a writable mapping of a page table
            if old & paging.P and old & paging.RW:
                self.writable[old & paging.FRAME] -= 1
            if value & paging.P and value & paging.RW:
                self.writable[target] += 1
        else:
            return EINVAL  # not a page table the hypervisor knows
        self._write(where, value)
        self.stats["page-table updates"] += 1
        if old & paging.P and (value ^ old) & (paging.P | paging.RW | paging.FRAME):
            self.machine.memory.flush_tlb()  # a mapping went away or lost write access: no stale TLB entry
        return 0

    def save_state(self) -> tuple:
        return (set(self.l2), Counter(self.l1), Counter(self.writable), self.base,
                Counter(self.stats))

    def load_state(self, state: tuple) -> None:
        l2, l1, writable, self.base, stats = state
        self.l2, self.l1, self.writable, self.stats = set(l2), Counter(l1), Counter(writable), \
            Counter(stats)

    def after_restore(self) -> None:
        """RAM went back in time: recompute the types from the pinned directories' contents."""
        self.l1.clear()
        self.writable.clear()
        for pd in self.l2:
            for e in self._entries(pd)[:paging.MONITOR_PDE]:
                if e & paging.P:
                    self._ref_l1(e & paging.FRAME)
