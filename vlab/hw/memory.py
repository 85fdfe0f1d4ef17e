"""Guest memory: RAM as one host buffer, read and written the way the CPU addresses it.

Guest RAM starts at physical 0 (one ctypes buffer that the core maps, so the host reads it
without a copy); the monitor's reserved area lies far above it (:mod:`vlab.layout`). A *linear*
access goes through the guest's page tables when the guest pages — the pure walk in
:mod:`vlab.hw.paging`, or a monitor's MMU (shadow page tables) plugged in as :attr:`Memory.mmu` —
and sets Accessed/Dirty bits as the CPU would; :meth:`Memory.peek` looks without changing
anything, for views and disassembly.
"""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING, Iterator, Protocol

import unicorn

from vlab import layout
from vlab.errors import UnmappedAccess, VlabError
from vlab.hw import paging
from vlab.isa import Instruction, decoder

if TYPE_CHECKING:
    from vlab.hw.machine import Machine


class Mmu(Protocol):
    """A monitor's MMU that stands between the host and the guest's page tables (shadow paging):
    it knows what the guest believes CR0.PG is and translates for the host's accesses."""

    def enabled(self) -> bool: ...

    def translate(self, linear: int, write: bool = False, accessed: bool = True) -> int: ...

    def host_write(self, physical: int, size: int) -> None: ...


class Memory:
    """Guest RAM (physical), the monitor's area, and linear accesses through paging."""

    def __init__(self, machine: Machine, ram_size: int):
        self._m = machine
        self._cr0 = machine.core.registers.cr0  # (the core is there first, for good)
        self.ram_size = ram_size
        self._decoded: dict[int, Instruction] = {}  # address -> the instruction there (instruction())
        self.buffer = (ctypes.c_ubyte * ram_size)()
        self.ram = memoryview(self.buffer).cast("B")
        self.mmu: Mmu | None = None  # a monitor's shadow pager, while it runs one
        self._monitor_pt_mapped = False
        self._host_pools: dict[int, ctypes.Array] = {}
        #: the monitor's area (boot GDT and TSS, the trampoline, its stack), host memory too: the
        #: monitor reads its descriptors on every event it delivers
        self.monitor_buffer = (ctypes.c_ubyte * layout.MONITOR_SIZE)()
        self._monitor = memoryview(self.monitor_buffer).cast("B")

    def map_into(self, uc: unicorn.Uc) -> None:
        """Map guest RAM (this buffer) and the monitor's area into a fresh core."""
        uc.mem_map_ptr(0, self.ram_size, unicorn.UC_PROT_ALL, ctypes.addressof(self.buffer))
        uc.mem_map_ptr(layout.MONITOR_BASE, layout.MONITOR_SIZE, unicorn.UC_PROT_ALL,
                       ctypes.addressof(self.monitor_buffer))

    def clear(self) -> None:
        ctypes.memset(self.buffer, 0, self.ram_size)

    # ------------------------------------------------------------------ for monitors
    def host_pool(self, address: int, size: int) -> ctypes.Array:
        """Host memory at ``address`` (outside guest RAM, so no guest can name it) that the
        core sees, e.g. a monitor's shadow page tables; made once, zeroed, reused after."""
        pool = self._host_pools.get(address)
        if pool is None:
            pool = self._host_pools[address] = (ctypes.c_ubyte * size)()
            self._m.core.uc.mem_map_ptr(address, size, unicorn.UC_PROT_ALL,
                                        ctypes.addressof(pool))
        else:
            ctypes.memset(pool, 0, size)
        return pool

    def read_host(self, address: int, size: int) -> bytes:
        """Host memory a monitor mapped into the core (its pools, the monitor's page table)."""
        return bytes(self._m.core.uc.mem_read(address, size))

    def unmap_ram(self) -> None:
        """Take guest RAM out of the core (its contents stay): a monitor maps it back page by
        page on first touch (EPT demand allocation)."""
        self._m.core.uc.mem_unmap(0, self.ram_size)

    def unmap_ram_page(self, frame: int) -> None:
        """Take guest frame ``frame`` out of the core again."""
        self._m.core.uc.mem_unmap(frame << 12, paging.PAGE)

    def seal_ram(self, start: int, end: int, sealed: bool = True) -> None:
        """Make guest RAM [start, end) (whole pages, in the core) inaccessible to the guest, or
        accessible again: an access then stops the core (a protection fault the machine's hook
        hands to the monitor). The core keeps its translations (unmapping would drop them)."""
        uc = self._m.core.uc
        uc.mem_protect(start, end - start, unicorn.UC_PROT_NONE if sealed else unicorn.UC_PROT_ALL)
        self.flush_tlb()

    def map_ram_page(self, frame: int) -> None:
        """Put guest frame ``frame`` back into the core (the same host bytes)."""
        self._m.core.uc.mem_map_ptr(frame << 12, paging.PAGE, unicorn.UC_PROT_ALL,
                                    ctypes.addressof(self.buffer) + (frame << 12))

    # ------------------------------------------------------------------ paging
    def paging(self) -> bool:
        """Does the guest translate linear addresses (its CR0.PG, as it believes it)?"""
        if self.mmu is not None:
            return self.mmu.enabled()
        return bool(self._cr0() & paging.PG)

    def translate(self, linear: int, write: bool = False, accessed: bool = True) -> int:
        """Guest-linear -> guest-physical as the guest's own page tables say (A/D set as the
        CPU would, unless ``accessed`` is False: a look that must not change the guest);
        :class:`~vlab.hw.paging.PageFault` if they refuse the access."""
        if self.mmu is not None:
            return self.mmu.translate(linear, write, accessed)
        cpu = self._m.cpu
        w = paging.walk(self.table_u32, cpu.reg("cr3"), linear, write=write,
                        wp=bool(cpu.reg("cr0") & paging.WP),
                        pse=bool(cpu.reg("cr4") & paging.PSE))
        if not w.ok:
            raise paging.PageFault(f"page fault at {linear:#010x} "
                                   f"({paging.error_code_text(w.error_code)})", linear, w.error_code)
        if accessed:
            paging.set_accessed(self.table_u32, self.write_physical_u32, w, write)
        return w.physical

    def flush_tlb(self) -> None:
        """Forget the core's cached translations (a CR3 reload, as a kernel does it); after a
        monitor changed page tables the core walks."""
        cpu = self._m.cpu
        if cpu.reg("cr0") & paging.PG:
            cpu.set_reg("cr3", cpu.reg("cr3"))

    def monitor_page_table(self) -> int:
        """The page table (in host memory) that maps the monitor's 64 KiB at the top of every
        address space a monitor builds (shadow page directories; a paravirtual guest's own)."""
        if not self._monitor_pt_mapped:
            uc = self._m.core.uc
            uc.mem_map(paging.MONITOR_PT, paging.PAGE, unicorn.UC_PROT_ALL)
            first = (layout.MONITOR_BASE >> 12) & 0x3FF
            entries = b"".join(
                struct.pack("<I", (layout.MONITOR_BASE + i * paging.PAGE) | paging.P | paging.RW
                            | paging.A | paging.D)
                for i in range(layout.MONITOR_SIZE // paging.PAGE))
            uc.mem_write(paging.MONITOR_PT + 4 * first, entries)
            self._monitor_pt_mapped = True
        return paging.MONITOR_PT

    def _pieces(self, address: int, size: int, write: bool,
                accessed: bool = True) -> Iterator[tuple[int, int]]:
        """(physical, length) pieces of a linear range, page by page (callers have checked
        that the guest pages and that the range is not the monitor's own area)."""
        while size > 0:
            n = min(size, paging.PAGE - (address & 0xFFF))
            yield self.translate(address, write, accessed), n
            address, size = address + n, size - n

    # ------------------------------------------------------------------ linear accesses
    def read(self, address: int, size: int) -> bytes:
        """Guest memory at a linear address (through the guest's page tables when it pages)."""
        return self.read_linear(address, size)

    def read_linear(self, address: int, size: int, accessed: bool = True) -> bytes:
        """Guest memory at a linear address, as the CPU reads it (Accessed bits set)."""
        if address < layout.MONITOR_BASE and self.paging():
            return b"".join(self.read_physical(p, n)
                            for p, n in self._pieces(address, size, False, accessed))
        return self.read_physical(address, size)

    def read_u32(self, address: int) -> int:
        return struct.unpack("<I", self.read_linear(address, 4))[0]

    def peek(self, address: int, size: int) -> bytes:
        """Read guest memory only to look at it (disassembly, the lab's views): unlike the
        CPU's own accesses, this sets no Accessed bit in the guest's page tables."""
        return self.read_linear(address, size, accessed=False)

    def code_bytes(self, address: int, size: int = 15) -> bytes:
        """Up to ``size`` instruction bytes at ``address`` (fewer if the next page is not
        mapped), looked at without side effects; UnmappedAccess if none can be read."""
        if address + size <= self.ram_size and not self.paging():  # (a trap's decode, as
            return bytes(self.ram[address:address + size])  # peek would read it, two calls fewer)
        try:
            return self.peek(address, size)
        except VlabError:
            room = 0x1000 - (address & 0xFFF)
            if room >= size:
                raise
            return self.peek(address, room)

    def instruction(self, address: int) -> Instruction | None:
        """The instruction at ``address`` (None: its bytes are no instruction), decoded once per
        address and used again while the bytes there are the same (a trapping or checked
        instruction runs again and again); UnmappedAccess if none of its bytes can be read."""
        known = self._decoded.get(address)
        if known is not None:
            raw = known.raw
            end = address + len(raw)
            if end <= self.ram_size and not self.paging():  # (the common case: compared in
                if self.ram[address:end] == raw:            # place, nothing copied)
                    return known
            elif self.code_bytes(address, len(raw)) == raw:
                return known
        code = self.code_bytes(address)
        insn = decoder().decode(code, address)
        if insn is not None:
            if len(self._decoded) >= 4096:
                self._decoded.clear()
            self._decoded[address] = insn
        return insn

    def write(self, address: int, data: bytes) -> None:
        """Write guest memory from the host (translated code there is discarded)."""
        self.write_linear(address, data)
        self._m.core.forget_code(address, address + len(data))

    def write_linear(self, address: int, data: bytes) -> None:
        """Write guest memory at a linear address, as the CPU writes it (Dirty bits set)."""
        if address < layout.MONITOR_BASE and self.paging():
            pieces = list(self._pieces(address, len(data), True))  # all checked before any write
            offset = 0
            for p, n in pieces:
                self.write_physical(p, data[offset:offset + n])
                if self.mmu is not None:
                    self.mmu.host_write(p, n)
                offset += n
            return
        self.write_physical(address, data)

    # ------------------------------------------------------------------ physical accesses
    def _unmapped(self, what: str, size: int, address: int) -> UnmappedAccess:
        clock = self._m.clock
        return UnmappedAccess(f"{what} of {size} bytes at {address:#010x} outside guest RAM",
                              address, clock.fault_eip, clock.fault_text_if_known)

    def read_physical(self, address: int, size: int) -> bytes:
        """Guest-physical memory (or the monitor's own area above ``MONITOR_BASE``)."""
        if 0 <= address and address + size <= self.ram_size:
            return bytes(self.ram[address:address + size])
        if address < layout.MONITOR_BASE:  # (nothing else the guest may name is memory)
            raise self._unmapped("read", size, address)
        offset = address - layout.MONITOR_BASE
        if offset + size <= layout.MONITOR_SIZE:
            return bytes(self._monitor[offset:offset + size])
        try:
            return bytes(self._m.core.uc.mem_read(address, size))
        except unicorn.UcError:
            raise self._unmapped("read", size, address) from None

    def write_physical(self, address: int, data: bytes) -> None:
        """Write guest-physical memory (or the monitor's own area)."""
        if 0 <= address and address + len(data) <= self.ram_size:
            self.ram[address:address + len(data)] = data
            return
        if address < layout.MONITOR_BASE:  # (the monitor's own area is written as it is)
            raise self._unmapped("write", len(data), address)
        try:
            self._m.core.uc.mem_write(address, bytes(data))
        except unicorn.UcError:
            raise self._unmapped("write", len(data), address) from None

    def table_u32(self, address: int) -> int:
        """A page-table entry as a walk reads it: outside guest RAM there is nothing (0, not
        present), as on a bus where no memory answers."""
        if 0 <= address and address + 4 <= self.ram_size:
            return int.from_bytes(self.ram[address:address + 4], "little")
        return 0

    def write_physical_u32(self, address: int, value: int) -> None:
        self.write_physical(address, struct.pack("<I", value & 0xFFFF_FFFF))

    def monitor_area(self) -> bytes:
        """The monitor's reserved area, whole (for snapshots)."""
        return bytes(self._monitor)

    def restore_monitor_area(self, data: bytes) -> None:
        self._m.core.uc.mem_write(layout.MONITOR_BASE, data)

