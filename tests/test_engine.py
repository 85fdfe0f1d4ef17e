"""The engine probe's fast paths: registers read from the live CPU state and the stale-fault reset
done in place give exactly what Unicorn's own API gives, and a core without them (the probe did not
find the state) runs every guest the same."""

from __future__ import annotations

import pytest
import unicorn
from unicorn import x86_const as X

from tests.conftest import lab_of
from vlab.hw import core
from vlab.lab import Lab

STRATEGIES = ("native", "trap_emulate", "binary_translation", "vtx")


def test_the_probe_finds_the_live_cpu_state_on_the_pinned_unicorn():
    layout = core.probe()
    assert layout.cpu_pointer is not None and layout.env_offset is not None
    assert core.Core().state is not None


def test_the_probe_finds_the_next_blocks_instruction_limit_by_its_effect(monkeypatch):
    """QEMU's cflags_next_tb (the most instructions the next block may hold, its way to run
    exactly N) sits where Unicorn 2.1's CPUState puts it, and is taken only once a count of 2
    there made the next block two instructions long; a field that does not read as it (here
    the CPU's first flags) is refused before anything is written to it."""
    layout = core.probe()
    assert layout.next_block_flags == 24
    assert core._next_block_flags_work(layout)  # noqa: SLF001
    monkeypatch.setattr(core, "_NEXT_BLOCK_FLAGS", 16)
    assert not core._next_block_flags_work(layout)  # noqa: SLF001
    assert core.next_block_flags(core.new_core(), layout) is not None


def test_the_probe_survives_memory_that_is_gone_when_it_looks(monkeypatch):
    """The probe follows pointers into the ranges /proc/self/maps listed; the allocator may give
    a range back before the probe reads it (a segfault of the whole process, seen under a
    subprocess with piped output). Told that every address is readable, it must still only
    find the state, never crash."""
    monkeypatch.setattr(core, "_readable", lambda: [(0x1000, 1 << 47)])
    layout = core.probe()
    found, header = core._find_cpu_state(core.new_core(), layout.emu_counter)  # noqa: SLF001
    assert (layout.cpu_pointer, layout.env_offset) in found and header > 0


@pytest.mark.parametrize("strategy", ["native", "trap_emulate"])
def test_direct_reads_equal_unicorns_at_every_instruction_and_every_trap(strategy):
    """In a code hook on every instruction of the kernel's first 3,000, and in every trap's hook,
    each register read from the CPU state equals ``uc.reg_read`` of it; EFLAGS' system bits too."""
    lab = Lab("kernel", strategy=strategy)
    c = lab.machine.core
    fast, uc = c.registers, c.uc
    assert c.state is not None
    seen = {"code": 0, "intr": 0}
    bad: list[str] = []

    def compare(where: str) -> None:
        seen[where] += 1
        for reg in core._STATE_OFFSETS:
            if fast.read(reg) != uc.reg_read(reg):
                bad.append(f"{where}: register {reg}: {fast.read(reg):#x} != {uc.reg_read(reg):#x}")
        for reg in (X.UC_X86_REG_GDTR, X.UC_X86_REG_IDTR, X.UC_X86_REG_TR, X.UC_X86_REG_LDTR):
            selector, base, limit, _ = uc.reg_read(reg)
            if reg in (X.UC_X86_REG_GDTR, X.UC_X86_REG_IDTR):
                selector = 0
            if fast.table(reg) != (selector, base, limit):
                bad.append(f"{where}: table register {reg}: {fast.table(reg)}")
        cs = uc.reg_read(X.UC_X86_REG_CS)
        if fast.code_base() != lab.machine.cpu.segment_base(cs):  # (the kernel never changes a
            bad.append(f"{where}: CS base")  # loaded descriptor: the two agree)
        system = 0x0027_7300  # TF, IF, IOPL, NT, RF, VM, AC, ID
        if fast.system_flags() & system != uc.reg_read(X.UC_X86_REG_EFLAGS) & system:
            bad.append(f"{where}: EFLAGS system bits differ")

    uc.hook_add(unicorn.UC_HOOK_CODE, lambda *_: seen["code"] < 3000 and compare("code"))
    uc.hook_add(unicorn.UC_HOOK_INTR, lambda *_: compare("intr"))
    lab.run()
    assert lab.exit_code == 0
    assert bad == []
    assert seen["code"] >= 3000 and seen["intr"] >= 10


def test_general_register_writes_in_a_hook_reach_the_guest():
    """A CPUID-like hook that writes EAX..EDI through the fast path mid-block: the guest sees
    exactly what Unicorn's own write would have given it (its next instructions use them)."""
    src = """
    .include "vlab.inc"
    .globl _start
    _start:
        mov eax, 1
        mov ebx, 2
        xor ecx, ecx
        xor edx, edx
        cpuid
        add eax, ebx
        add eax, ecx
        add eax, edx
        add eax, esi
        mov edi, eax
        EXIT 0
    """
    from vlab.isa import assemble

    results = []
    for fast in (True, False):
        lab = Lab(assemble(src, "cpuid_writes"))
        c = lab.machine.core
        assert c.state is not None

        def answer(uc, _, c=c, fast=fast):
            w = c.registers.write if fast else uc.reg_write
            for reg, value in ((X.UC_X86_REG_EAX, 0x1111_1111), (X.UC_X86_REG_EBX, 0x2222_2222),
                               (X.UC_X86_REG_ECX, 0x3333_3333), (X.UC_X86_REG_EDX, 0x4444_4444),
                               (X.UC_X86_REG_ESI, 0x0000_0005)):
                w(reg, value)
            return 1

        c.cpuid_intercepted = answer
        lab.run()
        results.append((lab.exit_code, lab.state().edi))
    assert results[0] == results[1] == (0, 0xAAAA_AAAF)


def test_the_in_place_fault_reset_takes_ten_thousand_faults_in_a_row():
    """Each #GP after a handled one arrives as #GP again (not #DF, not a silent triple fault:
    the stale state Unicorn leaves is cleared in the CPU state itself)."""
    lab = lab_of("gp_storm")
    assert lab.machine.core.fault.ctx is None  # (the in-place reset, not a saved context)
    lab.run()
    assert lab.console == "gp=10000 df=0\n"


def _observed(strategy: str) -> tuple:
    lab = Lab("kernel", strategy=strategy)
    lab.run()
    return lab.console, lab.instructions, lab.exit_code, lab.trace.counts()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_core_without_the_cpu_state_runs_the_kernel_the_same(strategy, monkeypatch):
    fast = _observed(strategy)
    monkeypatch.setattr(core, "cpu_state_address", lambda uc, layout: None)
    lab = Lab("kernel", strategy=strategy)
    assert lab.machine.core.state is None and lab.machine.core.fault.ctx is not None
    assert _observed(strategy) == fast


def test_vlab_doctor_says_whether_registers_are_read_at_memory_speed():
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "vlab", "doctor", "--json"], capture_output=True,
                         text=True, timeout=120)
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    fast = checks["fast registers"]
    assert fast["ok"] and not fast["required"] and "CPU state found" in fast["detail"]
