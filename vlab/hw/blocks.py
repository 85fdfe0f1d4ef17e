"""Exact instruction counts a translation block at a time (the native counter).

Unicorn's ``count=`` mode calls a helper before every instruction (~9 ns each): a counted guest
runs at a few percent of the core's speed. This module counts instead with a small native hook
(``blockcount.c``, compiled on first use with the system's C compiler and cached beside the guest
images) that runs once per translation block: it adds the block's instruction count, and stops
the core *before* a block whose count it does not know yet (Python learns it, from the core's own
translation). Before a block that would cross the next deadline it runs just the part that fits,
itself, in the same run: Unicorn's exit list gets the address of the first instruction past the
deadline, the block's translation is dropped and EIP written to itself, so that the core looks
the block up again and translates it to end at that exit, where the run stops (``run_tail``;
where it cannot, the hook refuses the block and Python runs the part up to a one-address stop
hook). Counts, deadlines and stops are the same as in ``count=`` mode; the property tests in
``tests/test_counting.py`` hold the two (and both ways of running a part) against each other.

Inside a hook the count must be exact to the instruction: :meth:`BlockCounter.value` adds to the
instructions before the current block the position of EIP inside it (the block's instruction
addresses, decoded once with Capstone when the block is learnt). A hook that moves EIP elsewhere
in the middle of a block (an exception delivered, an instruction emulated) *settles* the count
there (:meth:`BlockCounter.settle`), so that the rest of the block is not counted.

In ``count=`` mode EIP is synced before every instruction, and a stop asked for by an I/O or
CPUID hook lands before the next instruction. Here the core syncs EIP and looks for stop
requests only at block starts and at code hooks, so each IN, OUT, INS, OUTS or CPUID in a block,
and the instruction after it, get an empty native code hook.

``VLAB_COUNTING`` selects the counter: ``auto`` (default: this one if it can be built, else
``count=``), ``blocks`` (this one, or an error saying why not) or ``units`` (``count=``).
``python -m vlab.hw.blocks`` builds it now and says which counter a machine will use.
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import unicorn
from unicorn import x86_const

from vlab.errors import EngineError

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

SOURCE = Path(__file__).with_name("blockcount.c")
#: every source of the native library: the counter, and event delivery (vlab/hw/delivery.py)
SOURCES = (SOURCE, Path(__file__).with_name("deliver.c"))
#: what builds the helper: no C library needed (freestanding, nothing linked)
CFLAGS = ["-O2", "-shared", "-fPIC", "-ffreestanding", "-nostdlib", "-fno-stack-protector"]
MISS, DEADLINE = 1, 2  # why the native hook refused a block
NO_DEADLINE = (1 << 64) - 1
_NO_FLAGS = 0xFFFF_FFFF  # cflags_next_tb with no request pending
NEVER = (1 << 64) - 1  # emu_start's "until" (unused: the core runs with an empty exit list)
#: instructions whose hooks may stop the core (I/O, CPUID): the next one gets a boundary hook
_STOPPING = frozenset({"in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd", "cpuid"})
#: the part of a block before a deadline is run by the native hook (blockcount.c, run_tail,
#: as the core's own block of that many instructions, or to an exit: COUNTED_PARTS);
#: False: the hook refuses the block and Python runs the part up to a stop hook (the tests hold
#: both ways against count= mode)
NATIVE_TAILS = True
#: the part of a block before a deadline is translated as a block of its own with QEMU's
#: instruction limit (the CPU's cflags_next_tb, where the engine probe found it), and cached
#: beside the whole block; False: with Unicorn's exit list, which has the whole block translated
#: again after each part (the tests hold both ways)
COUNTED_PARTS = True
#: a native interrupt hook takes each event's error code and origin, clears the stale fault
#: state and cuts the block, before the Python hook (BlockCounter.take_faults); False: the
#: Python hook does it all (the tests hold both ways)
NATIVE_FAULTS = True
_FILL_LIMIT = 3 / 4  # of the table's slots: then it is cleared and blocks are learnt anew


class _Header(ctypes.Structure):
    """The start of ``struct counter`` in blockcount.c (its table follows)."""

    _fields_ = [("counted", ctypes.c_uint64), ("deadline", ctypes.c_uint64),
                ("block_pc", ctypes.c_uint64), ("block_base", ctypes.c_uint64),
                ("block_size", ctypes.c_uint32), ("block_count", ctypes.c_uint32),
                ("refused", ctypes.c_int32), ("admit", ctypes.c_int32),
                ("settled", ctypes.c_int32), ("off", ctypes.c_int32),
                ("trusted_left", ctypes.c_int32), ("pad", ctypes.c_int32),
                ("filled", ctypes.c_uint64), ("blocks", ctypes.c_uint64),
                ("emu_stop", ctypes.c_void_p), ("current", ctypes.c_void_p),
                ("cuts", ctypes.c_uint64), ("trusted_pc", ctypes.c_uint64),
                ("trusted_end", ctypes.c_uint64),
                ("uc_ctl", ctypes.c_void_p), ("reg_read", ctypes.c_void_p),
                ("reg_write", ctypes.c_void_p), ("ctl_exits", ctypes.c_int32),
                ("ctl_remove", ctypes.c_int32), ("eip_id", ctypes.c_int32),
                ("native_tails", ctypes.c_int32), ("tail_exit", ctypes.c_uint64),
                ("tail_pc", ctypes.c_uint64), ("tail_size", ctypes.c_uint32),
                ("pad2", ctypes.c_uint32), ("tails", ctypes.c_uint64),
                ("pending", ctypes.c_uint64), ("fault_old", ctypes.c_void_p),
                ("fault_err", ctypes.c_void_p), ("fault_is_int", ctypes.c_void_p),
                ("fault_eip", ctypes.c_uint64), ("fault_count", ctypes.c_int64),
                ("fault_error", ctypes.c_uint32), ("fault_software", ctypes.c_uint32),
                ("next_flags", ctypes.c_void_p), ("part_pc", ctypes.c_uint64),
                ("part_size", ctypes.c_uint32), ("part_left", ctypes.c_uint32),
                ("parts", ctypes.c_uint64)]


#: (fault_eip, fault_count, fault_error, fault_software), read at once
_FAULT = struct.Struct("<QqII")


class Entry(ctypes.Structure):
    """``struct entry``: one block of the table."""

    _fields_ = [("pc", ctypes.c_uint64), ("size", ctypes.c_uint32), ("count", ctypes.c_uint32),
                ("hits", ctypes.c_uint64), ("generation", ctypes.c_uint32),
                ("starts", ctypes.c_uint32), ("offsets", ctypes.c_void_p),
                ("marks", ctypes.c_void_p), ("nmarks", ctypes.c_uint32), ("part", ctypes.c_uint32)]


class Mark(ctypes.Structure):
    """``struct mark``: a counted instruction of a block (its position, its counter)."""

    _fields_ = [("cell", ctypes.c_void_p), ("position", ctypes.c_uint32), ("pad", ctypes.c_uint32)]


def _ctl_write(control: int, arguments: int) -> int:
    """uc_ctl's request code: ``control``, written, with ``arguments`` (unicorn.h, UC_CTL)."""
    return (unicorn.UC_CTL_IO_WRITE << 30) | (arguments << 26) | control


# ---------------------------------------------------------------------------- building
def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cache_root() -> Path:
    root = os.environ.get("VLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vlab")
    return Path(root) / "native"


def _key() -> str:
    text = b"".join(src.read_bytes() for src in SOURCES) + " ".join(CFLAGS).encode() \
        + platform.machine().encode()
    return hashlib.sha256(text).hexdigest()[:16]


def build() -> Path:
    """Compile blockcount.c (once: the result is cached by the hash of its source); raise
    :class:`~vlab.errors.EngineError` saying why if it cannot be built."""
    target = _cache_root() / f"blockcount-{_key()}.so"
    if target.exists():
        return target
    cc = _compiler()
    if cc is None:
        raise EngineError("no C compiler (cc, gcc or clang) to build vlab's native instruction "
                          "counter: install gcc (bash scripts/setup.sh does)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".so.{os.getpid()}")
    out = subprocess.run([cc, *CFLAGS, "-o", str(tmp), *map(str, SOURCES)], capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise EngineError(f"building vlab's native instruction counter failed ({cc}): "
                          + (out.stderr.strip() or out.stdout.strip())[-500:])
    os.replace(tmp, target)  # (atomic: processes building at once each get a whole file)
    return target


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The native counter, built if need be (cached per process)."""
    lib = ctypes.CDLL(str(build()))
    lib.vlab_put.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint32,
                             ctypes.c_void_p, ctypes.c_uint32]
    lib.vlab_put.restype = ctypes.c_int
    lib.vlab_get.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32]
    lib.vlab_get.restype = ctypes.POINTER(Entry)
    lib.vlab_clear.argtypes = [ctypes.c_void_p]
    lib.vlab_mark.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p,
                              ctypes.c_uint32]
    lib.vlab_mark.restype = ctypes.c_int
    lib.vlab_attribute_last.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
    lib.vlab_flush.argtypes = [ctypes.c_void_p]
    lib.vlab_cut_at.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
    lib.vlab_cut_at.restype = ctypes.c_int64
    lib.vlab_end_tail.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.vlab_end_tail.restype = ctypes.c_int
    lib.vlab_slots.restype = ctypes.c_uint64
    lib.vlab_counter_size.restype = ctypes.c_uint64
    if ctypes.sizeof(Entry) * lib.vlab_slots() + ctypes.sizeof(_Header) \
            != lib.vlab_counter_size():
        raise EngineError("vlab's native instruction counter does not match its Python side "
                          "(struct layout): rebuild it with python -m vlab.hw.blocks")
    return lib


@functools.lru_cache(maxsize=1)
def mode() -> tuple[str, str]:
    """Which counter machines use, and why: ("blocks", how) or ("units", why not blocks)."""
    wanted = os.environ.get("VLAB_COUNTING", "auto")
    if wanted not in ("auto", "blocks", "units"):
        raise EngineError(f"VLAB_COUNTING={wanted!r} is not one of auto, blocks, units")
    if wanted == "units":
        return "units", "VLAB_COUNTING=units: Unicorn's count= mode"
    try:
        lib = library()
    except (EngineError, OSError) as e:
        if wanted == "blocks":
            raise EngineError(f"VLAB_COUNTING=blocks, but {e}") from None
        return "units", f"Unicorn's count= mode (the native counter is unavailable: {e})"
    return "blocks", f"native block counter ({lib._name})"  # noqa: SLF001


# ---------------------------------------------------------------------------- counting
class BlockCounter:
    """The native counter attached to one core, and the Python half of its bookkeeping."""

    def __init__(self, uc: unicorn.Uc, forget_code, native_tails: bool | None = None):
        from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

        self.lib = lib = library()
        self.uc = uc
        self._forget = forget_code  # the core's forget_code (it keeps the fault state clean)
        self._uclib = uclib
        self._hook_type = uc_hook_h
        self.memory = (ctypes.c_ubyte * lib.vlab_counter_size())()
        self.address = ctypes.addressof(self.memory)
        self.state = _Header.from_address(self.address)
        self.state.emu_stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        # the part of a block before a deadline runs inside the hook (blockcount.c, run_tail):
        # it needs Unicorn's exit list (the core keeps one, empty, instead of "until")
        self.state.uc_ctl = ctypes.cast(uclib.uc_ctl, ctypes.c_void_p).value
        self.state.reg_read = ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value
        self.state.reg_write = ctypes.cast(uclib.uc_reg_write, ctypes.c_void_p).value
        self.state.ctl_exits = _ctl_write(unicorn.UC_CTL_UC_EXITS, 2)
        self.state.ctl_remove = _ctl_write(unicorn.UC_CTL_TB_REMOVE_CACHE, 2)
        self.state.eip_id = x86_const.UC_X86_REG_EIP
        self.state.native_tails = int(NATIVE_TAILS if native_tails is None else native_tails)
        self._end_tail = lib.vlab_end_tail
        self._cut_at = lib.vlab_cut_at
        self._uch = uc._uch  # noqa: SLF001 (the C handle)
        self.state.off = 1
        self.slots = lib.vlab_slots()
        self._block_hook = self._add(unicorn.UC_HOOK_BLOCK, "vlab_block", 1, 0)
        self._edge_hook = self._add(unicorn.UC_HOOK_EDGE_GENERATED, "vlab_generated", 1, 0)
        #: a block's instruction addresses, by (pc, size), as learnt
        self.insns: dict[tuple[int, int], tuple[int, ...]] = {}
        self._offsets: list[ctypes.Array] = []  # instruction offsets the table points to
        self._decoded: dict[tuple[int, int, bytes], tuple[int, ...]] = {}
        self._boundaries: dict[int, int] = {}  # address -> its empty code hook
        self.hooked: int | None = None  # inside a code hook: the address it hooks
        #: where the part of a block that fits before the deadline ends (code hooks there stop
        #: at once: the stop hook may come after them in Unicorn's list)
        self.stop_at: int | None = None
        self._stale_stops: list[int] = []
        #: counted instructions: handle -> (address, its cell); address -> cells; the mark
        #: arrays the native table points into, by block
        self._marks: dict[int, tuple[int, ctypes.c_uint64]] = {}
        self._marked: dict[int, list[ctypes.c_uint64]] = {}
        self._mark_arrays: dict[tuple[int, int], ctypes.Array] = {}
        #: replaced mark arrays and removed cells, kept until clear()
        self._retired_marks: list[ctypes.Array | ctypes.c_uint64] = []
        self._next_mark = 1 << 62  # (never a Unicorn hook handle: those are pointers)
        #: told of each block learnt (new code, or changed) before it runs: True if the block
        #: must be translated again first (vlab.hw.checks hooks instructions in it)
        self.new_code: Callable[[int, int], bool] | None = None

    def limit_parts(self, next_flags: ctypes.c_uint32) -> None:
        """Run the part of a block before a deadline as the core's own block of that many
        instructions (``next_flags``: the CPU's cflags_next_tb, see :data:`COUNTED_PARTS`)."""
        self._next_flags = next_flags
        self.state.next_flags = ctypes.addressof(next_flags)

    _next_flags: ctypes.c_uint32 | None = None

    def _part_unused(self) -> None:
        """After a run: a part asked for but not run (the core stopped first) is not asked for
        any more: the next block translated must be a whole one."""
        s = self.state
        if s.part_left:  # (only ever set with the flags known)
            if self._next_flags.value == s.part_left:
                self._next_flags.value = _NO_FLAGS
            s.part_pc, s.part_size, s.part_left = 0, 0, 0

    def take_faults(self, old: int, error_code: int, is_int: int) -> None:
        """Let a native interrupt hook take each event's error code and origin, clear the
        core's stale fault state (at these addresses: :class:`~vlab.hw.core.FaultReset`'s)
        and cut the block at the instruction, before the Python interrupt hook runs (add this
        one first: Unicorn runs a kind's hooks in the order they were added). That hook then
        reads it all from :meth:`fault_taken`."""
        s = self.state
        s.fault_err, s.fault_is_int, s.fault_old = error_code, is_int, old
        self._add(unicorn.UC_HOOK_INTR, "vlab_interrupt", 1, 0)
        #: What the native interrupt hook took of the event in flight: (EIP, the count cut
        #: there or -1 if Python must work it out, error code, 1 if an INT n raised it). (A
        #: function made of C parts: no Python frame on a trap's path.)
        self.fault_taken = functools.partial(_FAULT.unpack_from, memoryview(self.memory),
                                             _Header.fault_eip.offset)
        self.faults_taken = True

    #: Does the native interrupt hook take each event (:meth:`take_faults`)?
    faults_taken = False

    def _add(self, kind: int, symbol: str, begin: int, end: int, data: int | None = None) -> int:
        handle = self._hook_type()
        fn = ctypes.cast(getattr(self.lib, symbol), ctypes.c_void_p)
        err = self._uclib.uc_hook_add(self.uc._uch, ctypes.byref(handle), kind, fn,  # noqa: SLF001
                                      ctypes.c_void_p(self.address if data is None else data),
                                      ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if err:
            raise unicorn.UcError(err)
        return handle.value

    def count_executions(self, address: int, cell: ctypes.c_uint64) -> int:
        """Add one to ``cell`` each time the instruction at ``address`` runs (the caller keeps
        ``cell`` alive until it removes the handle returned): a mark on every block of the table
        that holds that instruction, counted by the block hook, not a hook of its own (Unicorn
        walks every code hook on each hooked instruction: a translator's hundreds of them
        cost 15 times the loop they count)."""
        handle = self._next_mark
        self._next_mark += 1
        self._marks[handle] = (address, cell)
        self._marked.setdefault(address, []).append(cell)
        for (pc, size), addresses in self.insns.items():
            if pc <= address < pc + size and address in addresses:
                self._put_marks(pc, size, addresses)
        return handle

    def flush_marks(self) -> None:
        """Bring the marked instructions' counters up to date (the native side adds a loop's
        whole runs to them when the loop leaves its block, or the slice ends)."""
        self.lib.vlab_flush(self.address)

    def is_mark(self, handle: int) -> bool:
        return handle in self._marks

    def _unmark(self, handle: int) -> None:
        address, cell = self._marks.pop(handle)
        # (kept until clear(): a part run before a deadline, or the block whose whole runs are
        # not counted yet, may still point at it; it counts into nothing then)
        self._retired_marks.append(cell)
        cells = self._marked[address]
        cells.remove(cell)
        if not cells:
            del self._marked[address]
        for (pc, size), addresses in self.insns.items():
            if pc <= address < pc + size and address in addresses:
                self._put_marks(pc, size, addresses)

    def _put_marks(self, pc: int, size: int, addresses: tuple[int, ...]) -> None:
        """Tell the native table which instructions of block (pc, size) are counted."""
        self.lib.vlab_flush(self.address)  # (the whole runs so far count for the marks so far)
        marks = [(self._marked[a], i) for i, a in enumerate(addresses) if a in self._marked]
        array = (Mark * max(1, sum(len(cells) for cells, _ in marks)))()
        n = 0
        for cells, position in marks:
            for cell in cells:
                array[n].cell, array[n].position = ctypes.addressof(cell), position
                n += 1
        old = self._mark_arrays.get((pc, size))
        if old is not None:  # (a part run before a deadline may still point into it)
            self._retired_marks.append(old)
        self._mark_arrays[(pc, size)] = array  # (the native side points into it)
        self.lib.vlab_mark(self.address, pc, size, ctypes.addressof(array), n)

    def _remove(self, handle: int) -> None:
        if handle in self._marks:
            self._unmark(handle)
            return
        self._uclib.uc_hook_del(self.uc._uch, self._hook_type(handle))  # noqa: SLF001

    remove = _remove  # (for the core: a hook this library added)

    def add_native(self, kind: int, symbol: str, begin: int, end: int, data: int) -> int:
        """A hook of this library's (``symbol``, called with ``data``): its handle."""
        return self._add(kind, symbol, begin, end, data)

    # ------------------------------------------------------------------ a slice
    def start(self, limit: int | None) -> None:
        """A new slice of at most ``limit`` instructions (None: no deadline)."""
        s = self.state
        s.counted = 0
        s.deadline = NO_DEADLINE if limit is None else limit
        s.block_pc, s.block_size, s.block_count, s.block_base = NO_DEADLINE, 0, 0, 0
        s.refused = s.admit = s.settled = s.off = 0
        s.current = None
        self.hooked = None

    def run(self, machine: Machine, limit: int | None, begin: int | None = None,
            done: Callable[[], bool] | None = None) -> bool:
        """``emu_start`` from ``begin`` (else EIP) until at most ``limit`` instructions have run
        or ``done()`` says a hook ended the run: a block the native hook does not know is
        learnt and the core goes on; before a block that would cross the deadline, the part
        that fits runs up to a stop hook. True if the run ended at its deadline."""
        self.start(limit)
        state, tail, at_deadline = self.state, None, False
        try:
            while True:
                state.refused = 0
                self.uc.emu_start(machine.cpu.eip if begin is None else begin, NEVER, 0, 0)
                begin = None
                if state.tail_exit:  # the hook ran the part of a block before the deadline
                    exit_at = state.tail_exit
                    self._clear_exit()
                    if machine.cpu.eip == exit_at and state.counted == state.deadline:
                        return True
                if tail is not None and not state.admit:  # the part that fits has run
                    at_deadline = machine.cpu.eip == self.stop_at
                    self.end_tail(tail)
                    tail = None
                if not state.refused or (done is not None and done()):
                    return at_deadline
                if state.refused == MISS:
                    self.learn(machine)
                elif tail is None:
                    tail = self.tail()
                    if tail is None and not state.admit:
                        return True
                else:  # (cannot happen: the tail's block is let in)
                    return at_deadline
        finally:
            if tail is not None:
                self.end_tail(tail)
            if state.tail_exit:
                self._clear_exit()
            self._part_unused()
            self.stop(machine.cpu.eip)

    def _clear_exit(self) -> None:
        """Empty Unicorn's exit list again after a part run by the hook (the core invalidated
        the part's translation, which ends at the exit, when its run ended)."""
        err = self._end_tail(self.address, self._uch)
        if err:
            raise unicorn.UcError(err)

    def run_exactly(self, machine: Machine, begin: int, count: int) -> None:
        """Outside a slice (the monitor's trampoline): run ``count`` instructions from
        ``begin``, uncounted as the guest's. (Unicorn's count= cannot do it here: blocks
        translated without its counting hook would run whole.)"""
        try:
            self.run(machine, count, begin)
        finally:
            self.drop_deleted_hooks(machine.cpu.eip)

    def stop(self, eip: int) -> None:
        """The slice is over, with EIP = ``eip``: the marked instructions of the block entered
        last are counted as far as it ran; until the next slice the core runs uncounted (the
        monitor's trampoline, a probe)."""
        s = self.state
        if s.current:
            if self._marked:
                self.lib.vlab_attribute_last(self.address, max(0, self._count(eip, False)
                                                               - s.block_base))
            else:  # (nothing is counted per instruction: nothing to attribute)
                s.current = None
        s.off = 1

    def value(self, eip: int) -> int:
        """Instructions of the slice counted by the time a hook runs with EIP = ``eip``, counted
        as ``count=`` mode counts them: the instruction at ``eip`` included (a code hook runs
        before it, after Unicorn's counting hook; a faulting instruction was counted).
        Inside a code hook (:attr:`hooked` set) the hooked instruction's count, whatever the
        hook did to EIP since."""
        if self.hooked is not None:
            eip = self.hooked
        return self._count(eip, True)

    def value_at_end(self, eip: int) -> int:
        """Instructions of the slice retired when it ended with EIP = ``eip`` (the instruction
        at ``eip`` has not run)."""
        return self._count(eip, False)

    def _inside(self, eip: int) -> tuple[int, ...] | None:
        """The instruction addresses of the block being executed, if ``eip`` lies inside it
        (None: no block entered, the count settled, or EIP elsewhere: the block ran whole)."""
        s = self.state
        pc, size = s.block_pc, s.block_size
        if s.settled or s.refused or s.block_count == 0 or not pc <= eip < pc + size:
            return None
        return self.insns.get((pc, size)) or self._learn_addresses(pc, size)

    def _count(self, eip: int, including: bool) -> int:
        insns = self._inside(eip)
        if insns is None:
            return self.state.counted
        before = bisect.bisect_left(insns, eip)  # instructions that start before eip
        at = including and before < len(insns) and insns[before] == eip
        return self.state.block_base + before + int(at)

    def runs_ahead(self, eip: int, start: int, end: int) -> bool:
        """Will the block being executed, from the instruction at ``eip`` on (not that one: a
        hook runs before it), run an instruction in [start, end)?"""
        insns = self._inside(eip)
        return insns is not None and any(eip < a and start <= a < end for a in insns)

    def before_block(self) -> int:
        """In a block hook that runs after the native one: the count before this block."""
        return self.state.block_base

    def cut_at(self, eip: int) -> int:
        """The instruction at ``eip`` faulted (or the core stopped before it): the block ends
        there, that instruction counted as count= mode counts it (then a fault's handler sees
        it unretired). Returns the count (:meth:`value` until the next block)."""
        if self.hooked is None:  # (in C where the block's instruction addresses are there)
            value = self._cut_at(self.address, eip)
            if value >= 0:
                return value
        value = self.value(eip)
        s = self.state
        s.counted = value
        s.settled = 1
        return value

    def settle(self, value: int) -> None:
        """A hook moved EIP away from the current block after ``value`` instructions: the rest
        of the block does not run, so it is not counted (until the core enters the next)."""
        s = self.state
        s.counted = value
        s.settled = 1

    def hook_left(self, eip: int) -> None:
        """The code hook at :attr:`hooked` ends with EIP = ``eip``: if it moved EIP (it
        emulated the instruction or sent the guest elsewhere) the block was cut after the
        hooked instruction."""
        address, self.hooked = self.hooked, None
        if eip != address and address is not None:
            self.settle(self._count(address, True))

    # ------------------------------------------------------------------ learning blocks
    def learn(self, machine: Machine) -> int:
        """The native hook refused an unknown block: put its instruction count in the table
        (from the core's own translation), decode its instruction addresses, and give the
        instruction after each I/O or CPUID in it an empty code hook. Returns the count."""
        s = self.state
        pc, size = s.block_pc, s.block_size
        if s.filled >= self.slots * _FILL_LIMIT or len(self._offsets) > self.slots:
            self.clear()
        tb = self.uc.ctl_request_cache(pc)
        addresses = self._learn_addresses(pc, size, machine)
        tb_pc, tb_count, tb_size = tb
        count = tb_count if (tb_pc, tb_size) == (pc, size) and tb_count else len(addresses)
        offsets = (ctypes.c_uint16 * max(1, len(addresses)))(*(a - pc for a in addresses))
        self._offsets.append(offsets)  # (the native side points into it until clear())
        self.lib.vlab_put(self.address, pc, size, max(1, count), ctypes.addressof(offsets),
                          len(addresses))
        if self._marked and any(a in self._marked for a in addresses):
            self._put_marks(pc, size, addresses)
        if self.new_code is not None and self.new_code(pc, size):
            self._forget(pc, pc + size)  # (translated again, with the new hooks, before it runs)
        return count

    def _learn_addresses(self, pc: int, size: int, machine: Machine | None = None) -> tuple[int, ...]:
        from vlab.isa import decoder

        # (a block's size may end inside its last instruction: the core stops translating an
        # instruction that faults whatever its operands, e.g. LGDT outside ring 0)
        code = b""
        for extra in (15, 0):
            try:
                code = bytes(self.uc.mem_read(pc, size + extra)) if machine is None \
                    else machine.memory.peek(pc, size + extra)
                break
            except Exception:  # noqa: BLE001, S112 (beyond readable memory: try the block alone)
                continue
        key = (pc, size, code)
        addresses = self._decoded.get(key)
        if addresses is None:
            insns = [i for i in decoder().decode_many(code, pc, 10_000) if i.address < pc + size]
            addresses = tuple(i.address for i in insns)
            stopping = [a for i in insns if i.mnemonic.rsplit(" ", 1)[-1] in _STOPPING  # (REP)
                        for a in (i.address, i.address + i.size) if a < pc + size]
            if len(self._decoded) > 50_000:
                self._decoded.clear()
            self._decoded[key] = addresses
            if stopping and any(a not in self._boundaries for a in stopping):
                for a in stopping:
                    if a not in self._boundaries:
                        self._boundaries[a] = self._add(unicorn.UC_HOOK_CODE, "vlab_boundary", a, a)
                self._forget(pc, pc + size)  # (retranslated with the hooks)
        self.insns[(pc, size)] = addresses
        return addresses

    def tail(self) -> int | None:
        """The native hook refused a block that would cross the deadline: arrange for the part
        that fits to run (the block is let in and a stop hook ends it at the deadline). Returns
        the stop hook, or None if the deadline is reached already."""
        s = self.state
        left = s.deadline - s.counted
        if left <= 0:
            return None
        pc, size = s.block_pc, s.block_size
        insns = self.insns.get((pc, size)) or self._learn_addresses(pc, size)
        if left >= len(insns):  # (the decode disagrees with the translation: run it whole)
            s.admit = 1
            return None
        self.stop_at = stop_at = insns[left]
        hook = self._add(unicorn.UC_HOOK_CODE, "vlab_stop_here", stop_at, stop_at)
        # the block (and any block starting inside it) is translated again with the hook, and
        # once more when it goes: the code is the same, so is the count (no need to stop and
        # learn it again each time)
        s.trusted_pc, s.trusted_end, s.trusted_left = pc, pc + size, 4
        self._forget(pc, pc + size)
        s.admit = 1
        return hook

    def end_tail(self, hook: int) -> None:
        """The part of the block that fits has run (or the guest went elsewhere first)."""
        self._remove(hook)
        self._stale_stops.append(self.stop_at)
        self.stop_at = None

    def drop_deleted_hooks(self, eip: int) -> None:
        """After a slice that removed a stop hook (outside the core's run): Unicorn forgets a
        deleted hook only when the next emu_start ends, and translates code meanwhile as if it
        were still there, with a call into the hook helper on every pass (a loop measured 3x
        slower, for good). So: one emu_start that runs nothing (every block refused), which
        ends the deletion, then the code at the stop's address is translated again."""
        if not self._stale_stops:
            return
        s = self.state
        saved = ctypes.string_at(self.address, ctypes.sizeof(_Header))
        s.deadline, s.admit, s.off, s.refused = s.counted, 0, 0, 0
        try:
            self.uc.emu_start(eip, NEVER, 0, 0)
        except unicorn.UcError:
            pass  # (the next slice meets whatever this was)
        finally:
            ctypes.memmove(self.address, saved, len(saved))
        for address in self._stale_stops:
            s.trusted_pc, s.trusted_end, s.trusted_left = address, address + 1, 4
            self._forget(address, address + 1)
        self._stale_stops.clear()

    def clear(self) -> None:
        """Forget every block (the core dropped its translations, or memory was restored)."""
        self.lib.vlab_clear(self.address)
        self.insns.clear()
        self._offsets.clear()
        self._mark_arrays.clear()
        self._retired_marks.clear()


def main() -> int:
    """``python -m vlab.hw.blocks``: build the native counter now and say which counter a
    machine will use (the set-up scripts run it, so that the first lab does not wait)."""
    try:
        path = build()
    except EngineError as e:
        print(f"vlab: {e}", file=sys.stderr)
        print(f"vlab: machines will count with {mode()[1]}", file=sys.stderr)
        return 1
    print(f"vlab: native instruction counter built: {path}")
    print(f"vlab: machines count with {mode()[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
