"""Data breakpoints (vlab/hw/watch.py): the machine closes the pages that hold a watched range and
steps the one instruction that touches them. (What a breakpoint does is the conformance suite's
part: tests/conformance/programs/dbg_dr1_write.S and dbg_data_cases.S, checked against Bochs.)"""

import pytest

from tests.conformance.programs import PROGRAMS_DIR, build
from vlab.hw.watch import data_breakpoints
from vlab.lab import Lab

STRATEGIES = ["native", "trap_emulate", "binary_translation", "vtx"]


@pytest.fixture(scope="module")
def cases():
    return build(PROGRAMS_DIR / "dbg_data_cases.S")


def test_dr7_decoding():
    """SDM vol. 3B, 18.2.4: L/G enable, R/W 01 and 11 are data breakpoints (00 is an
    instruction breakpoint, not watched here), LEN 00/01/11/10 = 1/2/4/8 bytes, and the
    address's low bits below the length are ignored."""
    dr = [0x1003, 0x2001, 0x3007, 0x4000]
    dr7 = (1 << 0) | (0b11 << 16) | (0b11 << 18)        # DR0: R/W 11, 4 bytes
    dr7 |= (1 << 3) | (0b01 << 20) | (0b01 << 22)       # DR1: G1, R/W 01, 2 bytes
    dr7 |= (1 << 4) | (0b00 << 24)                      # DR2: an instruction breakpoint
    dr7 |= (0b01 << 28) | (0b10 << 30)                  # DR3: not enabled
    assert data_breakpoints(dr, dr7) == [(0, 0x1000, 4, 3), (1, 0x2000, 2, 1)]
    assert data_breakpoints(dr, 0x400) == []


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_stepping_equals_running_and_the_pages_open_again(cases, strategy):
    """Every stop at a closed page retires its instruction exactly once: the same count of
    instructions whether run or stepped, and under every strategy; once the guest clears DR7
    nothing is watched any more."""
    ran = Lab(image=cases, strategy=strategy, budget=2_000_000)
    ran.run()
    stepped = Lab(image=cases, strategy=strategy, budget=2_000_000)
    for _ in range(100_000):
        if stepped.step().reason != "step":
            break
    assert ran.exit_code == stepped.exit_code == 0
    assert ran.console == stepped.console and "inc: var3 = 0x00000008" in ran.console
    assert ran.instructions == stepped.instructions == _native_count(cases)
    assert not ran.machine.watch.active and not stepped.machine.watch.active


_counts: dict[int, int] = {}


def _native_count(image) -> int:
    if id(image) not in _counts:
        lab = Lab(image=image, budget=2_000_000)
        lab.run()
        _counts[id(image)] = lab.instructions
    return _counts[id(image)]


def test_a_watched_stack_page_slows_but_does_not_change_the_kernel():
    """A write breakpoint on the kernel's own stack page: every push and call there stops and
    steps, yet console, exit and instruction count are those of the run without it."""
    plain = Lab("kernel")
    plain.run()
    lab = Lab("kernel")
    m = lab.machine
    lab.step()  # (the kernel's first instruction: the breakpoint is set as if by MOV DR7)
    esp = m.cpu.reg("esp")
    m.cpu.set_reg("dr0", esp - 0x100)
    m.cpu.set_reg("dr7", 0x000D0001)
    m.watch_debug_registers()
    assert m.watch.active
    lab.run()
    assert lab.exit_code == plain.exit_code == 0
    assert lab.console == plain.console
    assert lab.instructions == plain.instructions
    assert m.watch.stops > 100  # (the page really was watched, and stepped through)


def test_a_breakpoint_outside_ram_watches_nothing():
    lab = Lab("kernel")
    lab.machine.watch.arm([0xFFFF_0000, 0, 0, 0], 0x000D0001)  # the monitor's area
    assert not lab.machine.watch.active
    lab.run()
    assert lab.exit_code == 0
