"""Data breakpoints: the debug registers' R/W = 01 (write) and 11 (read or write) conditions,
which Unicorn's core never fires (measured on Unicorn 2.1: DR7 armed, the access happens, DR6
stays clear).

The machine watches them by page protection, so nothing else is slowed: the pages that hold a
watched range lose write permission (and read permission for R/W = 11) in the core, and the
first access to one of them stops the core *before* the instruction runs (nothing is written).
The clock then lets that one instruction run with the pages open, a memory hook on the exact
ranges noting what it touched, closes them again, and if it touched a watched range raises #DB
as a trap after the instruction with DR6.Bn set (SDM vol. 3B, 18.2.4 and 18.3.1.2). Any other
access to such a page costs one stop and one single step.

Whoever owns the guest's debug registers arms the watch: the checks on MOV to DRn when they are
the real ones (native, VT-x), a deprivileging monitor from its virtual DR0-DR7. A range is
watched at the physical page its linear address maps to when the breakpoint is armed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import unicorn

from vlab.errors import VlabError

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

_LENGTH = (1, 2, 8, 4)  # DR7 LENn encodings (SDM vol. 3B, 18.2.4; 10B: 8 bytes)
_PROT_STOP = unicorn.UC_HOOK_MEM_READ_PROT | unicorn.UC_HOOK_MEM_WRITE_PROT
_ACCESS = unicorn.UC_HOOK_MEM_READ | unicorn.UC_HOOK_MEM_WRITE


def data_breakpoints(dr: list[int], dr7: int) -> list[tuple[int, int, int, int]]:
    """The enabled data breakpoints in DR0-DR3 and DR7: (n, address, length, R/W), the address
    aligned down to the length (the CPU ignores its low bits)."""
    points = []
    for n in range(4):
        rw = (dr7 >> (16 + 4 * n)) & 3
        if dr7 >> (2 * n) & 3 and rw in (1, 3):
            length = _LENGTH[(dr7 >> (18 + 4 * n)) & 3]
            points.append((n, dr[n] & ~(length - 1) & 0xFFFF_FFFF, length, rw))
    return points


class DataWatch:
    """The data breakpoints the machine watches, and the pages it closes for them."""

    def __init__(self, machine: Machine):
        self._m = machine
        self.points: list[tuple[int, int, int, int]] = []
        self._pages: dict[int, int] = {}  # physical page -> the permissions it is left with
        self._stop_hook: int | None = None
        self.hit = False  # the core stopped at an access to a closed page
        self.stops = 0  # how often it did (each one costs a stop and a single step)
        self._touched = 0  # DR6 B bits of the ranges the stepped instruction touched

    @property
    def active(self) -> bool:
        return bool(self._pages)

    def arm(self, dr: list[int], dr7: int) -> None:
        """Watch the data breakpoints DR0-DR3 and DR7 enable (none: stop watching)."""
        points = data_breakpoints(dr, dr7)
        if points == self.points and (self._pages or not points):
            return
        self.open()
        self.points, pages = points, {}
        for _, address, length, rw in points:
            closed = unicorn.UC_PROT_WRITE | (unicorn.UC_PROT_READ if rw == 3 else 0)
            for linear in {address & ~0xFFF, (address + length - 1) & ~0xFFF}:
                page = self._physical(linear)
                if page is not None:
                    pages[page] = pages.get(page, unicorn.UC_PROT_ALL) & ~closed
        self._pages = pages
        core = self._m.core
        if pages and self._stop_hook is None:
            self._stop_hook = core.uc.hook_add(_PROT_STOP, self._stopped)
        elif not pages and self._stop_hook is not None:
            core.remove_hook(self._stop_hook)
            self._stop_hook = None
        self.close()

    def _physical(self, linear: int) -> int | None:
        memory = self._m.memory
        if not memory.paging():
            return linear if linear < memory.ram_size else None
        try:
            page = memory.translate(linear, accessed=False) & ~0xFFF
        except VlabError:
            return None  # not mapped now: nothing to watch there
        return page if page < memory.ram_size else None

    def open(self) -> None:
        for page in self._pages:
            self._protect(page, unicorn.UC_PROT_ALL)

    def close(self) -> None:
        """Close the watched pages (again: a page a monitor maps on first touch, as EPT does,
        comes into the core open)."""
        for page, perms in self._pages.items():
            self._protect(page, perms)

    def _protect(self, page: int, perms: int) -> None:
        try:
            self._m.core.uc.mem_protect(page, 0x1000, perms)
        except unicorn.UcError:
            pass  # not in the core yet (mapped on first touch): closed when it is mapped

    def _stopped(self, uc, access: int, address: int, size: int, value: int, _) -> bool:
        """An access to a closed page: stop before the instruction runs (it did not retire)."""
        self.hit = True
        self.stops += 1
        if self._m.core.blocks is not None:  # (the instruction did not run)
            self._m.core.blocks.cut_at(self._m.cpu.eip)
        s = self._m.clock.slice
        if s is not None:
            s.uncounted += 1
        return False

    def step(self) -> int:
        """Run the stopped instruction once with the pages open; the DR6 B bits of the watched
        ranges it touched (0 if none, or if it faulted instead of completing)."""
        m = self._m
        self.hit, self._touched = False, 0
        # (the core matches a hook's range against an access's first byte: an access may start
        # up to 7 bytes below a range and still overlap it)
        hooks = [m.core.uc.hook_add(_ACCESS, self._access, (n, rw == 3, address, length),
                                    max(0, address - 7), address + length - 1)
                 for n, address, length, rw in self.points]
        self.open()
        faults = m.clock.faults
        try:
            m.clock.step_watched()
        finally:
            self.close()
            for h in hooks:
                m.core.remove_hook(h)
        return self._touched if m.clock.faults == faults else 0

    def _access(self, uc, access: int, address: int, size: int, value: int,
                point: tuple[int, bool, int, int]) -> None:
        """Any byte of the access inside the range counts (SDM vol. 3B, 18.2.5)."""
        n, reads_too, start, length = point
        if address < start + length and address + size > start and (
                access == unicorn.UC_MEM_WRITE or reads_too):
            self._touched |= 1 << n
