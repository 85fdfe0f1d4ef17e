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
        system = 0x0027_7300  # TF, IF, IOPL, NT, RF, VM, AC, ID
        if fast.system_flags() & system != uc.reg_read(X.UC_X86_REG_EFLAGS) & system:
            bad.append(f"{where}: EFLAGS system bits differ")

    uc.hook_add(unicorn.UC_HOOK_CODE, lambda *_: seen["code"] < 3000 and compare("code"))
    uc.hook_add(unicorn.UC_HOOK_INTR, lambda *_: compare("intr"))
    lab.run()
    assert lab.exit_code == 0
    assert bad == []
    assert seen["code"] >= 3000 and seen["intr"] >= 10


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
