"""The Unicorn core, and the two pieces of its internal state vlab must reach.

Unicorn 2.1 hides two things a machine with real fault delivery needs (measured on Unicorn 2.1.4):

* **Stale fault state.** After a ``#GP`` handled in ``UC_HOOK_INTR``, Unicorn keeps the in-flight
  exception number (``env->old_exception``): the next ``#GP`` would arrive as ``#DF`` and the one
  after as a silent triple fault. The only cure that works is to save the CPU context, set that
  int32 back to -1 and restore the context. The same saved context is the only place Unicorn shows
  a fault's *error code* and whether an interrupt came from an ``int n`` instruction.
* **The instruction counter.** ``emu_start(count=N)`` counts every instruction in
  ``uc->emu_counter`` but never tells Python how many ran when emulation stopped early (HLT, a
  hook, a breakpoint). Exact virtual time needs that number.

Neither field's offset is hard-coded: :func:`probe` finds both at start-up on a scratch core and
checks them with a self-test; if the installed Unicorn does not behave as measured, it raises
:class:`~vlab.errors.EngineError` with a clear message instead of letting a guest misbehave later.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import unicorn
from unicorn import x86_const as X

from vlab.errors import EngineError
from vlab.hw import blocks
from vlab.hw.blocks import BlockCounter

#: Unicorn series vlab was measured against (pyproject pins the same range).
SUPPORTED_SERIES = "2.1."

_DR0_MARK = 0x5EC0_DA7A
_COUNT_MARK = 0x0BAD_C0DE_1234


@dataclass(frozen=True)
class EngineLayout:
    """Offsets of Unicorn's hidden fields, found by :func:`probe`."""

    old_exception: int  # int32 in a saved context (= in the CPU state: a context is its copy)
    error_code: int  # int32 in a saved context
    exception_is_int: int  # int32 in a saved context
    emu_counter: int  # size_t in the uc_struct
    #: where the live CPU state is: the uc_struct's pointer to the CPU (this offset in it), and
    #: the state's offset from there; None if the probe could not find it (registers are then
    #: read through Unicorn's API, and a fault is reset through a saved context)
    cpu_pointer: int | None = None
    env_offset: int | None = None
    context_header: int = 0  # a saved context's bytes before its copy of the CPU state
    #: the CPU's ``cflags_next_tb`` (a uint32 at this offset from the CPU pointer): the compile
    #: flags of the next block the core translates or looks up, among them the most
    #: instructions it may hold (QEMU's own way to run exactly N); None if not found
    next_block_flags: int | None = None


def new_core() -> unicorn.Uc:
    """A fresh 32-bit x86 Unicorn core."""
    return unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)


def handle_address(uc: unicorn.Uc) -> int:
    """The address of the ``uc_struct`` behind a core."""
    return ctypes.cast(uc._uch, ctypes.c_void_p).value  # noqa: SLF001 (the probe reaches in, on purpose)


def context_address(ctx: unicorn.UcContext) -> int:
    """The address of a saved context's bytes."""
    return ctypes.cast(ctx.context, ctypes.c_void_p).value


def _flat_gdt() -> bytes:
    def desc(access: int) -> bytes:
        return struct.pack("<HHBBBB", 0xFFFF, 0, 0, access, 0xCF, 0)

    return b"\0" * 8 + desc(0x9A) + desc(0x92) + desc(0xFA) + desc(0xF2)


def _scratch_core() -> unicorn.Uc:
    """A tiny protected-mode core used only by the probe."""
    uc = new_core()
    uc.mem_map(0, 0x10000)
    gdt = _flat_gdt()
    uc.mem_write(0x1000, gdt)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x1000, len(gdt) - 1, 0))
    uc.reg_write(X.UC_X86_REG_CR0, 0x11)
    uc.reg_write(X.UC_X86_REG_CS, 0x08)
    for reg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_SS):
        uc.reg_write(reg, 0x10)
    uc.reg_write(X.UC_X86_REG_ESP, 0x9000)
    # 0x3000: iretd to ring 3 at 0x2000;  0x2000: mov eax, cr0 (faults at CPL 3); jmp back
    uc.mem_write(0x3000, bytes.fromhex("6a23" "6800800000" "9c" "6a1b" "6800200000" "cf"))
    uc.mem_write(0x2000, bytes.fromhex("0f20c0" "ebfb"))
    # 0x4000: five NOPs then HLT (six instructions at CPL 0)
    uc.mem_write(0x4000, bytes.fromhex("9090909090f4"))
    return uc


@lru_cache(maxsize=1)
def probe() -> EngineLayout:
    """Find and verify the hidden fields (once per process)."""
    if not unicorn.__version__.startswith(SUPPORTED_SERIES):
        raise EngineError(
            f"vlab needs Unicorn {SUPPORTED_SERIES}x, found {unicorn.__version__}; "
            "reinstall with: pip install 'unicorn>=2.1,<2.2'"
        )
    uc = _scratch_core()

    # 1. The instruction counter sits just before emu_count (uc_priv.h); find emu_count by value.
    uc.emu_start(0x4000, 0, count=_COUNT_MARK)
    raw = ctypes.string_at(handle_address(uc), 4096)
    hits = [o for o in range(0, len(raw) - 8, 8) if struct.unpack_from("<Q", raw, o)[0] == _COUNT_MARK]
    if len(hits) != 1:
        raise EngineError("Unicorn self-test failed: cannot locate the instruction counter")
    counter = hits[0] - 8
    if struct.unpack_from("<Q", raw, counter)[0] != 6:
        raise EngineError("Unicorn self-test failed: instruction counter does not count")

    # 2. old_exception: the int32 that goes from -1 to 13 around one handled #GP; DR0 anchors it.
    uc.reg_write(X.UC_X86_REG_DR0, _DR0_MARK)
    ctx0 = uc.context_save()
    before = ctypes.string_at(context_address(ctx0), ctx0.size)
    dr0 = before.find(struct.pack("<I", _DR0_MARK))
    if dr0 < 0:
        raise EngineError("Unicorn self-test failed: DR0 not found in a saved context")
    seen: list[tuple[int, bytes]] = []

    def on_fault(uc_: unicorn.Uc, intno: int, _: object) -> None:
        ctx = uc_.context_save()
        seen.append((intno, ctypes.string_at(context_address(ctx), ctx.size)))
        uc_.emu_stop()

    hook = uc.hook_add(unicorn.UC_HOOK_INTR, on_fault)
    uc.emu_start(0x3000, 0, count=100)
    uc.hook_del(hook)
    if not seen or seen[0][0] != 13:
        raise EngineError("Unicorn self-test failed: a CPL-3 MOV from CR0 did not raise #GP")
    after = seen[0][1]
    cands = [
        o for o in range(0, len(before) - 4, 4)
        if struct.unpack_from("<i", before, o)[0] == -1 and struct.unpack_from("<i", after, o)[0] == 13
    ]
    if dr0 + 96 in cands:
        old = dr0 + 96
    elif len(cands) == 1:
        old = cands[0]
    else:
        raise EngineError("Unicorn self-test failed: cannot locate the stale-fault field")
    layout = EngineLayout(old, dr0 - 16, dr0 - 12, counter)

    # 3. Self-test: with the reset, 50 consecutive #GPs must each arrive as 13 (not 8, not silence).
    core = FaultReset(uc, layout)
    core.capture()
    core.clear()  # the fault of step 2 is still in flight
    got: list[int] = []

    def on_fault_reset(uc_: unicorn.Uc, intno: int, _: object) -> None:
        core.capture()
        core.clear()
        got.append(intno)
        uc_.reg_write(X.UC_X86_REG_EIP, uc_.reg_read(X.UC_X86_REG_EIP) + 3)
        if len(got) == 50:
            uc_.emu_stop()

    uc.hook_add(unicorn.UC_HOOK_INTR, on_fault_reset)
    uc.emu_start(0x3000, 0, count=1000)
    if got != [13] * 50:
        raise EngineError(f"Unicorn self-test failed: repeated #GP seen as {sorted(set(got))}")

    # 4. The live CPU state (optional: without it vlab is slower, not wrong).
    # A pointer that leads to the state on two cores is the uc_struct's own (another may lead
    # there on one by chance of the heap's layout).
    first, header = _find_cpu_state(uc, counter)
    second, _ = _find_cpu_state(_scratch_core(), counter)
    for pointer, offset in sorted(first & second):
        found = EngineLayout(old, dr0 - 16, dr0 - 12, counter, pointer, offset, header)
        if cpu_state_address(_scratch_core(), found) is not None:
            if _next_block_flags_work(found):
                found = dataclasses.replace(found, next_block_flags=_NEXT_BLOCK_FLAGS)
            return found
    return layout


#: ``cflags_next_tb`` in QEMU 5's ``CPUState`` (qemu/include/hw/core/cpu.h): after two ints, a
#: pointer and seven bools; -1 when no request is pending
_NEXT_BLOCK_FLAGS = 24


def cpu_address(uc: unicorn.Uc, layout: EngineLayout) -> int:
    """Where the core's CPU (QEMU's ``CPUState``) is: the uc_struct's pointer to it."""
    return ctypes.c_uint64.from_address(handle_address(uc) + layout.cpu_pointer).value


def next_block_flags(uc: unicorn.Uc, layout: EngineLayout) -> ctypes.c_uint32 | None:
    """The core's ``cflags_next_tb`` (see :attr:`EngineLayout.next_block_flags`), or None."""
    if layout.next_block_flags is None or layout.cpu_pointer is None:
        return None
    return ctypes.c_uint32.from_address(cpu_address(uc, layout) + layout.next_block_flags)


def _next_block_flags_work(layout: EngineLayout) -> bool:
    """Does a count of 2 in the candidate ``cflags_next_tb`` make the core's next block two
    instructions long, once, with the usual blocks after it (and the field -1 again)? The
    fields around it must read as the structure says (one core, one thread) first."""
    uc = _scratch_core()
    uc.mem_write(0x5000, b"\x90" * 5 + b"\xf4")
    uc.emu_start(0x5000, 0x5001)  # (the CPU is reset, and the field set to -1, on first use)
    cpu = cpu_address(uc, layout)
    if ctypes.string_at(cpu, 8) != struct.pack("<ii", 1, 1):
        return False
    cell = ctypes.c_uint32.from_address(cpu + _NEXT_BLOCK_FLAGS)
    if cell.value != 0xFFFF_FFFF:
        return False
    sizes: list[tuple[int, int]] = []
    uc.hook_add(unicorn.UC_HOOK_BLOCK, lambda _u, address, size, _d: sizes.append((address, size)))
    uc.ctl_exits_enabled(True)
    uc.ctl_set_exits([0x5005])
    cell.value = 2
    uc.emu_start(0x5000, 0)
    limited, value = list(sizes), cell.value
    sizes.clear()
    uc.emu_start(0x5000, 0)
    return limited == [(0x5000, 2), (0x5002, 3)] and value == 0xFFFF_FFFF \
        and sizes == [(0x5000, 5)]


#: Registers read straight from the CPU state (``CPUX86State`` of Unicorn 2.1's QEMU,
#: ``qemu/target/i386/cpu.h``), as byte offsets: Unicorn's own ``reg_read`` returns exactly these
#: fields for them in 32-bit mode (``qemu/target/i386/unicorn.c``). Checked against ``reg_read``
#: on every core before use (:func:`cpu_state_address`). EFLAGS is not here: its arithmetic flags
#: live elsewhere while the core runs.
_EFLAGS = 136
_SEGS = 184  # regs[16], eip, eflags, cc_dst, cc_src, cc_src2 (8 bytes each), 4 x uint32
_SEGMENT = 24  # SegmentCache: selector, base (8, aligned), limit, flags
_STATE_OFFSETS = {
    X.UC_X86_REG_EAX: 0, X.UC_X86_REG_ECX: 8, X.UC_X86_REG_EDX: 16, X.UC_X86_REG_EBX: 24,
    X.UC_X86_REG_ESP: 32, X.UC_X86_REG_EBP: 40, X.UC_X86_REG_ESI: 48, X.UC_X86_REG_EDI: 56,
    X.UC_X86_REG_EIP: 128,  # (then eflags, at _EFLAGS)
    X.UC_X86_REG_ES: _SEGS, X.UC_X86_REG_CS: _SEGS + _SEGMENT, X.UC_X86_REG_SS: _SEGS + 2 * _SEGMENT,
    X.UC_X86_REG_DS: _SEGS + 3 * _SEGMENT, X.UC_X86_REG_FS: _SEGS + 4 * _SEGMENT,
    X.UC_X86_REG_GS: _SEGS + 5 * _SEGMENT,
    X.UC_X86_REG_CR0: _SEGS + 10 * _SEGMENT, X.UC_X86_REG_CR2: _SEGS + 10 * _SEGMENT + 16,
    X.UC_X86_REG_CR3: _SEGS + 10 * _SEGMENT + 24, X.UC_X86_REG_CR4: _SEGS + 10 * _SEGMENT + 32,
}
_EIP_INDEX = _STATE_OFFSETS[X.UC_X86_REG_EIP] // 4  # (of the state as 32-bit words)
_EIP_ID = X.UC_X86_REG_EIP
#: EIP written straight into the CPU state inside the exception hooks (FastRegisters); False:
#: always through Unicorn (the tests hold both ways)
DIRECT_EIP = True
_CS_INDEX = _STATE_OFFSETS[X.UC_X86_REG_CS] // 4
_CR0_INDEX, _CR3_INDEX, _CR4_INDEX = (_STATE_OFFSETS[r] // 4 for r in (
    X.UC_X86_REG_CR0, X.UC_X86_REG_CR3, X.UC_X86_REG_CR4))
#: the selectors a VM exit saves, in EXIT_SAVED's order (vlab.hw.vmcs)
_EXIT_SELECTORS = (X.UC_X86_REG_CS, X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_FS,
                   X.UC_X86_REG_GS, X.UC_X86_REG_SS)
_EXIT_SELECTOR_INDICES = tuple(_STATE_OFFSETS[r] // 4 for r in _EXIT_SELECTORS)
_STACK_AND_DATA = (X.UC_X86_REG_SS, X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_FS,
                   X.UC_X86_REG_GS)
#: LDTR, TR, GDTR, IDTR: SegmentCache after segs[6] (selector, then base at +8, limit at +16),
#: with what Unicorn's reg_read gives of them: (offset, selector mask, limit mask) (GDTR and IDTR
#: have no selector and a 16-bit limit)
_TABLE_REGISTERS = {X.UC_X86_REG_LDTR: (_SEGS + 6 * _SEGMENT, 0xFFFF, 0xFFFF_FFFF),
                    X.UC_X86_REG_TR: (_SEGS + 7 * _SEGMENT, 0xFFFF, 0xFFFF_FFFF),
                    X.UC_X86_REG_GDTR: (_SEGS + 8 * _SEGMENT, 0, 0xFFFF),
                    X.UC_X86_REG_IDTR: (_SEGS + 9 * _SEGMENT, 0, 0xFFFF)}
_CS_BASE = _SEGS + _SEGMENT + 8
_STATE_MARKS = {X.UC_X86_REG_EAX: 0x1EA5_0A01, X.UC_X86_REG_ECX: 0x1EA5_0C02,
                X.UC_X86_REG_EDX: 0x1EA5_0D03, X.UC_X86_REG_EBX: 0x1EA5_0B04,
                X.UC_X86_REG_EBP: 0x1EA5_0B05, X.UC_X86_REG_ESI: 0x1EA5_0506,
                X.UC_X86_REG_EDI: 0x1EA5_0D07}


def _readable() -> list[tuple[int, int]]:
    """This process's readable heap memory, from /proc/self/maps (empty where there is none):
    anonymous mappings and the heap, where Unicorn allocates its CPU (a file-backed mapping
    could raise SIGBUS if its file shrank; those are never looked at)."""
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.split()
        if len(fields) < 5 or not fields[1].startswith("r") or \
                (len(fields) > 5 and fields[5] != "[heap]"):
            continue
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        out.append((lo, hi))
    return out


def _find_cpu_state(uc: unicorn.Uc, within: int) -> tuple[set[tuple[int, int]], int]:
    """Where the live CPU state may be: every (offset of a pointer in the uc_struct, offset of
    the state from its target) whose target holds the registers just written and follows a
    change of one; and a saved context's header size. Only memory the process maps readable is
    looked at."""
    eax = _STATE_MARKS[X.UC_X86_REG_EAX]
    for reg, mark in _STATE_MARKS.items():
        uc.reg_write(reg, mark)
    ctx = uc.context_save()
    saved = ctypes.string_at(context_address(ctx), ctx.size)
    header = saved.find(struct.pack("<Q", eax))
    if header < 0:
        return set(), 0
    needle = saved[header:header + 64]
    ranges = _readable()
    handle = ctypes.string_at(handle_address(uc), within)
    found = set()
    try:  # (memory is read through /proc/self/mem: a range the allocator gave back since the
        mem = os.open("/proc/self/mem", os.O_RDONLY)  # maps were read is an error, not SIGSEGV)
    except OSError:
        return set(), 0
    try:
        for offset in range(0, within - 8, 8):
            pointer = struct.unpack_from("<Q", handle, offset)[0]
            span = next((hi for lo, hi in ranges if lo <= pointer < hi), None)
            if span is None:
                continue
            data = _peek(mem, pointer, min(span - pointer, 1 << 20))
            at = data.find(needle)
            while at >= 0:  # (a saved context holds the same bytes: only the live state follows)
                uc.reg_write(X.UC_X86_REG_EAX, ~eax & 0xFFFF_FFFF)
                live = _peek(mem, pointer + at, 4)
                uc.reg_write(X.UC_X86_REG_EAX, eax)
                if live == struct.pack("<I", ~eax & 0xFFFF_FFFF):
                    found.add((offset, at))
                at = data.find(needle, at + 1)
    finally:
        os.close(mem)
    return found, header


def _peek(mem: int, address: int, size: int) -> bytes:
    """``size`` bytes of this process at ``address`` (fewer, or none, where nothing is mapped)."""
    try:
        return os.pread(mem, size, address)
    except OSError:
        return b""


def cpu_state_address(uc: unicorn.Uc, layout: EngineLayout) -> int | None:
    """The address of this core's live CPU state, checked register by register against
    Unicorn's own reads (None: not found, or the layout does not hold for this core)."""
    if layout.cpu_pointer is None:
        return None
    address = cpu_address(uc, layout) + layout.env_offset
    fast = FastRegisters(uc, address)  # (checked as it will read)
    for reg, mark in _STATE_MARKS.items():
        before = uc.reg_read(reg)
        uc.reg_write(reg, mark)
        seen = fast.read(reg)
        uc.reg_write(reg, before)
        if seen != mark:
            return None
    if any(fast.read(reg) != uc.reg_read(reg) for reg in _STATE_OFFSETS):
        return None
    for reg, (_, selector_mask, _) in _TABLE_REGISTERS.items():
        selector, base, limit, _ = uc.reg_read(reg)
        if fast.table(reg) != (selector & selector_mask, base, limit):
            return None
    return address


def _width(reg: int) -> int:
    return 0xFFFF if reg in (X.UC_X86_REG_ES, X.UC_X86_REG_CS, X.UC_X86_REG_SS, X.UC_X86_REG_DS,
                             X.UC_X86_REG_FS, X.UC_X86_REG_GS) else 0xFFFF_FFFF


class Core:
    """One Unicorn core in 32-bit mode with the probes vlab relies on: the fault-state reset
    (and the fault's error code), the instruction counter, and fast register access."""

    def __init__(self) -> None:
        self.layout = probe()
        self.uc = uc = new_core()
        # No "until" address: Unicorn invalidates the code at until-1 after every emu_start, and
        # under guest paging that page walk can fault *silently* (a #PF that leaves stale fault
        # state behind, so the guest's next real #PF arrives as #DF). An empty exit list instead.
        uc.ctl_exits_enabled(True)
        uc.ctl_set_exits([])
        #: the live CPU state's address (None: Unicorn's API and saved contexts serve instead)
        self.state = cpu_state_address(uc, self.layout)
        self._ctl = _unicorn_unconverted().uc_ctl
        self.fault = FaultReset(uc, self.layout, self.state)
        self.registers = FastRegisters(uc, self.state)
        #: the native block counter (vlab.hw.blocks), or None: Unicorn's count= mode counts
        self.blocks = BlockCounter(uc, self.forget_code) if blocks.mode()[0] == "blocks" else None
        if self.blocks is not None and self.state is not None and blocks.NATIVE_FAULTS:
            self.blocks.take_faults(*self.fault.addresses())
        flags = next_block_flags(uc, self.layout)
        if self.blocks is not None and flags is not None and blocks.COUNTED_PARTS:
            self.blocks.limit_parts(flags)
        self.counter = InstructionCounter(uc, self.layout) if self.blocks is None \
            else BlockInstructionCounter(self.blocks, self.registers)
        self._ranges: dict[int, tuple[int, int]] = {}  # code hook -> its [begin, end]
        self._native: set[int] = set()  # hooks added through the native counter's library
        self._stale: list[tuple[int, int]] = []  # ranges of code hooks deleted since the last run
        #: a monitor's CPUID callback (VT-x: CPUID exits), else the machine answers as bare metal
        self.cpuid_intercepted: Callable[[unicorn.Uc, object], int] | None = None
        self._callbacks: list = []  # C callbacks into Python the core holds

    def capture_fault(self) -> tuple[int, bool]:
        """The fault in flight: (error code, came from an ``int n``); and forget it."""
        return self.fault.take()

    def clear_fault(self) -> None:
        """Forget any fault in flight (after the core ran outside a hook, or a restore)."""
        self.fault.capture()
        self.fault.clear()

    def flush(self) -> None:
        """Drop every translated block (code changed under the core)."""
        self.uc.ctl_flush_tb()
        if self.blocks is not None:
            self.blocks.clear()

    # ------------------------------------------------------------------ for monitors
    # A monitor sees the core only through these: where it wants control (an exact instruction
    # address, a range of writes, CPUID), and which translated code to forget. Callbacks get
    # Unicorn's arguments (core, address, size, data) and must not raise.
    # Unicorn drops translated code when a hook comes or goes or a range is forgotten, and to
    # find that code it walks the guest's page tables: a walk that misses sets CR2 and leaves a
    # fault "in flight", as a real #PF would (the next instruction then restarts forever, or the
    # guest's next #PF becomes #DF). :meth:`_untouched` puts both back after each such call.
    def _untouched(self, op, *args):
        cr2 = self.registers.read(X.UC_X86_REG_CR2)
        result = op(*args)
        self.clear_fault()
        if self.registers.read(X.UC_X86_REG_CR2) != cr2:
            self.registers.write(X.UC_X86_REG_CR2, cr2)
        return result

    def on_interrupt(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(vector)`` for each interrupt or exception the core raises (Unicorn's
        interrupt hook, for good: a trap's round trip starts here)."""
        def hook(_uc, vector, _data):
            try:
                callback(vector)
            except BaseException as e:  # noqa: BLE001 (see _add_hook)
                self._hook_failed(e)

        self._add_hook(unicorn.UC_HOOK_INTR, _INTERRUPT_HOOK(hook))

    def on_ports(self, read: Callable[[int, int], int],
                 write: Callable[[int, int, int], None]) -> None:
        """Call ``read(port, size)`` for each IN (it returns the value; 0 if it raises) and
        ``write(port, size, value)`` for each OUT the core executes (for good)."""
        def port_in(_uc, port, size, _data):
            try:
                return read(port, size)
            except BaseException as e:  # noqa: BLE001 (see _add_hook)
                self._hook_failed(e)
                return 0

        def port_out(_uc, port, size, value, _data):
            try:
                write(port, size, value)
            except BaseException as e:  # noqa: BLE001 (see _add_hook)
                self._hook_failed(e)

        self._add_hook(unicorn.UC_HOOK_INSN, _IN_HOOK(port_in), X.UC_X86_INS_IN)
        self._add_hook(unicorn.UC_HOOK_INSN, _OUT_HOOK(port_out), X.UC_X86_INS_OUT)

    def _add_hook(self, kind: int, c_hook, *instruction: int) -> None:
        """A Python hook (``c_hook``: a C function of Unicorn's type for ``kind``; the
        instruction for an instruction hook) added straight through the C API, for good:
        Unicorn's Python wrapper adds two Python calls, and an argument tuple and dict, to
        every one. The hook catches what its callback raises and hands it to
        :meth:`_hook_failed`, as that wrapper does."""
        out = ctypes.c_size_t(0)
        err = _unicorn_unconverted().uc_hook_add(
            self.uc._uch, ctypes.byref(out), kind, c_hook, None,  # noqa: SLF001
            ctypes.c_uint64(1), ctypes.c_uint64(0), *(ctypes.c_int(i) for i in instruction))
        if err:
            raise unicorn.UcError(err)
        self._callbacks.append(c_hook)  # (alive as long as the core)

    def _hook_failed(self, error: BaseException) -> None:
        """What Unicorn's own wrapper of a Python hook does with an exception: stop the core;
        emu_start raises the first one."""
        uc = self.uc
        if uc._hook_exception is None:  # noqa: SLF001
            uc._hook_exception = error  # noqa: SLF001
        uc.emu_stop()

    def on_execute(self, callback, begin: int = 1, end: int = 0, data: object = None,
                   retranslate: bool = True) -> int:
        """Call ``callback(core, address, size, data)`` before each instruction in
        [begin, end] (every instruction when begin > end); a handle for :meth:`remove_hook`.
        (``retranslate=False``: the caller knows the core translates the range anew anyway, as
        after a guest store into it: forgetting it now would hide that store from the core's
        own self-modifying-code check.)"""
        if self.blocks is None:
            handle = self._untouched(self.uc.hook_add, unicorn.UC_HOOK_CODE, callback, data,
                                     begin, end)
            self._ranges[handle] = (begin, end)
            return handle
        # Counting by blocks no helper runs before every instruction, so a hook only runs in
        # code translated after it was added: the range is translated again (a hook on every
        # instruction needs flush(), outside the core's run, from the caller). A hook that
        # moves EIP cuts its block short: the counter must know.
        handle = self._untouched(self.uc.hook_add, unicorn.UC_HOOK_CODE,
                                 _cutting(callback, self.blocks, self.registers), data, begin, end)
        if begin <= end and retranslate:
            self.forget_code(begin, end + 1)
        self._ranges[handle] = (begin, end)
        return handle

    def on_execute_native(self, symbol: str, begin: int, end: int, data: int,
                          fallback) -> tuple[int, ctypes._CFuncPtr]:
        """A code hook in vlab's native library (``symbol``, called with ``data``) on
        [begin, end], which calls ``fallback(address, size)`` (the Python hook, with the same
        bookkeeping as one from :meth:`on_execute`) when it cannot do the work itself. Only with
        the native counter. Returns (a handle for :meth:`remove_hook`, the C callback to pass as
        the fallback; the caller keeps it alive while the hook exists)."""
        hook = _cutting(fallback, self.blocks, self.registers)
        uc = self.uc

        def back(_uc, address, size, _data):  # (as Unicorn's own wrapper of Python hooks: an
            try:  # exception stops the core and emu_start raises it)
                hook(uc, address, size, None)
            except BaseException as e:  # noqa: BLE001
                if uc._hook_exception is None:  # noqa: SLF001
                    uc._hook_exception = e  # noqa: SLF001
                uc.emu_stop()

        c_fallback = _NATIVE_FALLBACK(back)
        handle = self._untouched(self.blocks.add_native, unicorn.UC_HOOK_CODE, symbol, begin, end,
                                 data)
        self._native.add(handle)
        self._ranges[handle] = (begin, end)
        self.forget_code(begin, end + 1)
        return handle, c_fallback

    def count_executions(self, address: int, cell) -> int | None:
        """Count, in the ctypes ``c_uint64`` ``cell``, the executions of the instruction at
        ``address`` with no call of any kind per execution (the native counter's marks); None
        where that counter is not built (then a Python hook must count). A handle for
        :meth:`remove_hook`."""
        if self.blocks is None:
            return None
        handle = self.blocks.count_executions(address, cell)
        self._native.add(handle)
        return handle

    def flush_counts(self) -> None:
        """Before reading the cells of :meth:`count_executions` in the middle of a run."""
        if self.blocks is not None:
            self.blocks.flush_marks()

    def on_write(self, callback, begin: int, end: int) -> int:
        """Call ``callback(core, access, address, size, value, None)`` on writes to [begin, end]."""
        return self._untouched(self.uc.hook_add, unicorn.UC_HOOK_MEM_WRITE, callback, None,
                               begin, end)

    def on_cpuid(self, callback) -> None:
        """Call ``callback(core, None)`` at every CPUID instead of the machine's own answer
        (returning 1 skips the core's own; one interceptor at a time, until the core is reset)."""
        self.cpuid_intercepted = callback

    def remove_hook(self, handle: int) -> None:
        if handle in self._native:
            self._native.discard(handle)
            if self.blocks.is_mark(handle):  # (no hook: nothing translated with it)
                self.blocks.remove(handle)
                return
            self._untouched(self.blocks.remove, handle)
        else:
            self._untouched(self.uc.hook_del, handle)
        # Unicorn forgets a deleted hook only when the next emu_start ends, and translates code
        # meanwhile as if it were still there: code translated then would call the hook helper
        # for nothing on every pass (a loop measured 2.5x slower, for good). after_run() has
        # that code translated again once the hook is really gone.
        span = self._ranges.pop(handle, None)
        if span is not None:
            self._stale.append(span)

    def after_run(self) -> None:
        """After each emu_start: translate again what may have been translated while a deleted
        code hook still counted (see :meth:`remove_hook`)."""
        if self._stale:
            spans, self._stale = self._stale, []
            if any(begin > end for begin, end in spans):
                self.flush()
                return
            for begin, end in spans:
                self.forget_code(begin, end + 1)

    def forget_code(self, begin: int, end: int) -> None:
        """Drop the core's translation of [begin, end): it re-translates (and sees new hooks)."""
        self._untouched(self._remove_cache, begin, end)

    def _remove_cache(self, begin: int, end: int) -> None:
        """Unicorn's ``ctl_remove_cache``, called straight (its Python wrapper encodes the
        request and converts the arguments anew on every call: a few microseconds)."""
        err = self._ctl(self.uc._uch, _REMOVE_CACHE, ctypes.c_uint64(begin),  # noqa: SLF001
                        ctypes.c_uint64(end))
        if err:
            raise unicorn.UcError(err)


#: an interrupt hook (uc_cb_hookintr_t), IN and OUT hooks (uc_cb_insn_in_t, uc_cb_insn_out_t)
_INTERRUPT_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
_IN_HOOK = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                            ctypes.c_void_p)
_OUT_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                             ctypes.c_uint32, ctypes.c_void_p)

#: a native hook's way back into Python (uc_cb_hookcode_t)
_NATIVE_FALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                                    ctypes.c_void_p)


def _cutting(callback, counter: BlockCounter, registers: FastRegisters):
    """``callback`` as a code hook that tells the block counter when it moved EIP."""
    eip_id = X.UC_X86_REG_EIP

    def hook(uc, address, size, data):
        if address == counter.stop_at:  # the deadline falls here: stop before any hook runs,
            uc.emu_stop()  # as count= mode's counting hook, always the first, would
            return
        counter.hooked = address
        try:
            callback(uc, address, size, data)
        finally:
            counter.hook_left(registers.read(eip_id))

    return hook


class FaultReset:
    """Reads a fault's error code and clears Unicorn's stale fault state: in the live CPU state
    where the probe found it, else through one reused saved context."""

    def __init__(self, uc: unicorn.Uc, layout: EngineLayout, state: int | None = None):
        self.uc = uc
        self.layout = layout
        self.ctx = None if state is not None else uc.context_save()
        base = state - layout.context_header if state is not None else context_address(self.ctx)
        self._old = ctypes.c_int32.from_address(base + layout.old_exception)
        self._err = ctypes.c_int32.from_address(base + layout.error_code)
        self._is_int = ctypes.c_int32.from_address(base + layout.exception_is_int)

    def capture(self) -> tuple[int, bool]:
        """(error code, came from an ``int n`` instruction) of the fault in flight."""
        if self.ctx is not None:
            self.uc.context_update(self.ctx)
        return self._err.value & 0xFFFF_FFFF, bool(self._is_int.value)

    def clear(self) -> None:
        """Forget the in-flight exception (call right after :meth:`capture`)."""
        if self._old.value != -1:
            self._old.value = -1
            if self.ctx is not None:
                self.uc.context_restore(self.ctx)

    def addresses(self) -> tuple[int, int, int]:
        """Where the live state keeps (the stale fault, the error code, came from INT n)."""
        return (ctypes.addressof(self._old), ctypes.addressof(self._err),
                ctypes.addressof(self._is_int))

    def take(self) -> tuple[int, bool]:
        """:meth:`capture`, then :meth:`clear` (once per trap: one call)."""
        if self.ctx is not None:
            found = self.capture()
            self.clear()
            return found
        found = self._err.value & 0xFFFF_FFFF, bool(self._is_int.value)
        if self._old.value != -1:
            self._old.value = -1
        return found


class InstructionCounter:
    """Unicorn's own per-``emu_start`` instruction counter, read without a hook."""

    def __init__(self, uc: unicorn.Uc, layout: EngineLayout):
        self._cell = ctypes.c_uint64.from_address(handle_address(uc) + layout.emu_counter)

    @property
    def value(self) -> int:
        return self._cell.value


class BlockInstructionCounter:
    """The same count as :class:`InstructionCounter`, from the native block counter: the
    instructions of the slice so far, the one a hook runs at included."""

    def __init__(self, blocks: BlockCounter, registers: FastRegisters):
        self.blocks = blocks
        self._registers = registers

    @property
    def value(self) -> int:
        return self.blocks.value(self._registers.read(X.UC_X86_REG_EIP))


class _TableRegister(ctypes.Structure):
    """Unicorn's uc_x86_mmr (unicorn/x86.h): a table register's selector, base, limit, flags."""

    _fields_ = [("selector", ctypes.c_uint16), ("base", ctypes.c_uint64),
                ("limit", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


#: uc_ctl's request code for UC_CTL_TB_REMOVE_CACHE with two arguments, written (unicorn.h:
#: the operation in bits 31:30, the argument count in 29:26, the request below)
_REMOVE_CACHE = (unicorn.UC_CTL_IO_WRITE << 30) | (2 << 26) | unicorn.UC_CTL_TB_REMOVE_CACHE


@lru_cache(maxsize=1)
def _unicorn_unconverted() -> ctypes.PyDLL:
    """Unicorn's library for the register calls made thousands of times a second: no declared
    argument types (every argument is passed as a ready ctypes object or a small int, so
    ctypes' per-call conversion, 0.35 of a 0.55 us call, is skipped) and the GIL kept (a
    register access never calls back into Python)."""
    from unicorn.unicorn_py3.unicorn import uclib

    return ctypes.PyDLL(uclib._name)  # noqa: SLF001 (the same library, called another way)


class FastRegisters:
    """32-bit register access straight through the C API.

    Unicorn's Python ``reg_read`` picks a register class per call (several microseconds); a trap
    handler touches a dozen registers, so the monitor's fast path calls ``uc_reg_read`` and
    ``uc_reg_write`` directly with one reused ctypes cell. Only for registers whose value fits
    in 32 bits (general registers, EIP, EFLAGS, CR0-CR4, segment selectors).

    Where the probe found the live CPU state, the registers Unicorn's ``reg_read`` copies from
    a field of it (general registers, EIP, selectors, CR0-CR4) are read from that field directly
    (a few dozen nanoseconds instead of a C call's half microsecond); so are writes of the
    general registers (Unicorn's write of one stores its low 32 bits, nothing else); other writes
    go through Unicorn (a write of EIP, a selector or a CR has side effects there).
    """

    def __init__(self, uc: unicorn.Uc, state: int | None = None):
        self._uch = uc._uch  # noqa: SLF001 (the C handle, for direct uc_reg_read calls)
        lib = _unicorn_unconverted()
        self._read_fn = lib.uc_reg_read
        self._write_fn = lib.uc_reg_write
        self._cell = ctypes.c_uint32(0)
        self._ref = ctypes.byref(self._cell)
        self._table = _TableRegister()
        self._table_ref = ctypes.byref(self._table)
        self._state = None if state is None else (ctypes.c_uint32 * 256).from_address(state)
        self._direct = {} if state is None else {reg: (offset // 4, _width(reg)) for reg, offset
                                                  in _STATE_OFFSETS.items()}
        self._plain = {} if state is None else {reg: _STATE_OFFSETS[reg] // 4 for reg in (
            X.UC_X86_REG_EAX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX, X.UC_X86_REG_EBX,
            X.UC_X86_REG_ESP, X.UC_X86_REG_EBP, X.UC_X86_REG_ESI, X.UC_X86_REG_EDI)}
        self._tables = {reg: (offset // 4, selector_mask, limit_mask)
                        for reg, (offset, selector_mask, limit_mask) in _TABLE_REGISTERS.items()}
        #: True while one of the machine's exception hooks runs (Unicorn's interrupt or
        #: invalid-instruction hook: the core has left the translated code and, once the hook
        #: returns, looks up the block at EIP afresh). There a write of EIP is the store
        #: Unicorn's own write makes, without the stop of the execution loop Unicorn adds for a
        #: write from the middle of a block, and the loop's restart (0.6 us of a trap's round
        #: trip). Anywhere else, and in a run started inside such a hook (the hook's flag is
        #: put aside for it), EIP is written through Unicorn.
        self.in_exception = False
        self.direct_eip = state is not None and DIRECT_EIP  # (what the hooks set it to)

    def read(self, reg_id: int) -> int:
        direct = self._direct.get(reg_id)
        if direct is not None:
            return self._state[direct[0]] & direct[1]
        self._cell.value = 0
        if self._read_fn(self._uch, reg_id, self._ref):
            raise unicorn.UcError(unicorn.UC_ERR_ARG)
        return self._cell.value

    def eip(self) -> int:
        """EIP (the hot path's read: one call)."""
        st = self._state
        return self.read(X.UC_X86_REG_EIP) if st is None else st[_EIP_INDEX]

    def cpl(self) -> int:
        """CS's RPL: the current privilege level in protected mode (one call)."""
        st = self._state
        return (self.read(X.UC_X86_REG_CS) if st is None else st[_CS_INDEX]) & 3

    def system_flags(self) -> int:
        """EFLAGS' system bits (IF, TF, IOPL, NT, RF, VM, AC, ID): not its arithmetic flags or
        DF, which the core keeps elsewhere while it runs."""
        if self._state is None:
            return self.read(X.UC_X86_REG_EFLAGS)
        return self._state[_EFLAGS // 4]

    def table(self, reg_id: int) -> tuple[int, int, int]:
        """GDTR, IDTR, TR or LDTR: (selector, base, limit) (the selector is 0 for GDTR and
        IDTR), from the CPU state or in one C call (Unicorn's Python reg_read picks a register
        class and builds a tuple type per call: ~5 us)."""
        if self._state is not None:
            i, selector_mask, limit_mask = self._tables[reg_id]
            st = self._state
            return st[i] & selector_mask, st[i + 2], st[i + 4] & limit_mask
        t = self._table
        if self._read_fn(self._uch, reg_id, self._table_ref):
            raise unicorn.UcError(unicorn.UC_ERR_ARG)
        return t.selector, t.base & 0xFFFF_FFFF, t.limit

    def cr0(self) -> int:
        """CR0 (one read: whether paging is on is asked at every trap's decode)."""
        st = self._state
        return self.read(X.UC_X86_REG_CR0) if st is None else st[_CR0_INDEX]

    def control_registers(self) -> tuple[int, int, int]:
        """CR0, CR3, CR4 (in one call)."""
        st, read = self._state, self.read
        if st is None:
            return read(X.UC_X86_REG_CR0), read(X.UC_X86_REG_CR3), read(X.UC_X86_REG_CR4)
        return st[_CR0_INDEX], st[_CR3_INDEX], st[_CR4_INDEX]

    def exit_state(self) -> tuple[int, ...]:
        """What a VM exit saves of the CPU (beside EIP and the control registers): ESP, EFLAGS,
        the CS, DS, ES, FS, GS and SS selectors, GDTR and IDTR (base, limit), TR and LDTR
        (selector, base, limit), in that order (vlab.hw.vmcs.EXIT_SAVED)."""
        read, table = self.read, self.table
        _, gdt_base, gdt_limit = table(X.UC_X86_REG_GDTR)
        _, idt_base, idt_limit = table(X.UC_X86_REG_IDTR)
        st = self._state
        if st is None:
            selectors = tuple(read(r) for r in _EXIT_SELECTORS)
        else:  # (at every VM exit: read in place)
            cs, ds, es, fs, gs, ss = _EXIT_SELECTOR_INDICES
            selectors = (st[cs] & 0xFFFF, st[ds] & 0xFFFF, st[es] & 0xFFFF, st[fs] & 0xFFFF,
                         st[gs] & 0xFFFF, st[ss] & 0xFFFF)
        return (read(X.UC_X86_REG_ESP), read(X.UC_X86_REG_EFLAGS), *selectors, gdt_base,
                gdt_limit, idt_base, idt_limit, *table(X.UC_X86_REG_TR),
                *table(X.UC_X86_REG_LDTR))

    def stack_and_data_selectors(self) -> tuple[int, int, int, int, int]:
        """SS, DS, ES, FS and GS, in that order (in place where the CPU state is reachable)."""
        st = self._state
        if st is None:
            return tuple(self.read(r) for r in _STACK_AND_DATA)
        _, ds, es, fs, gs, ss = _EXIT_SELECTOR_INDICES
        return st[ss] & 0xFFFF, st[ds] & 0xFFFF, st[es] & 0xFFFF, st[fs] & 0xFFFF, st[gs] & 0xFFFF

    def code_base(self) -> int | None:
        """The base of the code segment loaded now (the descriptor's copy the CPU holds, which
        a later change of the descriptor in memory does not touch), or None if the CPU state
        is not reachable."""
        if self._state is None:
            return None
        return self._state[_CS_BASE // 4]

    def write(self, reg_id: int, value: int) -> None:
        index = self._plain.get(reg_id)
        if index is not None:  # (a general register: Unicorn's write is this store, no more)
            self._state[index] = value & 0xFFFF_FFFF
            return
        if reg_id == _EIP_ID and self.in_exception:  # (never True without the state)
            self._state[_EIP_INDEX] = value & 0xFFFF_FFFF
            return
        self._cell.value = value & 0xFFFF_FFFF
        err = self._write_fn(self._uch, reg_id, self._ref)
        if err:
            raise unicorn.UcError(err)


_CPUID: dict[tuple[int, int], tuple[int, int, int, int]] = {}


VMX_BIT, HYPERVISOR_BIT = 1 << 5, 1 << 31  # CPUID leaf 1, ECX


def host_cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """CPUID of the *host* a VT-x monitor runs on: the core's answer, except that a host that
    runs VT-x has VMX (leaf 1, ECX bit 5) and, being bare metal, no hypervisor bit (ECX bit 31).
    (Unicorn's own CPU model reports the opposite: it describes a virtual machine.)"""
    eax, ebx, ecx, edx = native_cpuid(leaf, subleaf)
    if leaf == 1:
        ecx = (ecx | VMX_BIT) & ~HYPERVISOR_BIT
    return eax, ebx, ecx, edx


def bare_metal_cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """CPUID as vlab's machine answers its own guest (the course's bare metal): no hypervisor
    bit (SDM vol. 2A, CPUID: bit 31 of leaf 1 ECX is reserved, 0, on hardware; hypervisors set
    it), and no VMX, which the machine does not offer its guests' code (VMXON is #UD)."""
    eax, ebx, ecx, edx = native_cpuid(leaf, subleaf)
    if leaf == 1:
        ecx &= ~(VMX_BIT | HYPERVISOR_BIT)
    return eax, ebx, ecx, edx


def native_cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """What the core's own CPUID returns for ``leaf``/``subleaf``: (EAX, EBX, ECX, EDX).

    A monitor that passes CPUID through asks the hardware; vlab's hardware is Unicorn, so this
    runs one CPUID on a scratch core (cached)."""
    key = (leaf & 0xFFFF_FFFF, subleaf & 0xFFFF_FFFF)
    if key not in _CPUID:
        uc = new_core()
        uc.mem_map(0, 0x1000)
        uc.mem_write(0, b"\x0f\xa2")  # cpuid
        uc.reg_write(X.UC_X86_REG_EAX, key[0])
        uc.reg_write(X.UC_X86_REG_ECX, key[1])
        uc.emu_start(0, 2)
        _CPUID[key] = tuple(uc.reg_read(r) for r in (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX,
                                                     X.UC_X86_REG_ECX, X.UC_X86_REG_EDX))
    return _CPUID[key]
