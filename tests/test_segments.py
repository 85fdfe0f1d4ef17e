"""The machine's segment checks (vlab/hw/segments.py): accesses through a null or narrow segment
are checked only while one is loaded. (What each check does is the conformance suite's part,
checked against Bochs: tests/conformance/programs/seg_null_*.S, seg_*_nulls_ds.S, seg_limit_*.S.)"""

import pytest

from tests.conformance.programs import PROGRAMS_DIR, build
from vlab.lab import Lab

STRATEGIES = ["native", "trap_emulate", "binary_translation", "vtx"]


@pytest.mark.parametrize("strategy", [*STRATEGIES, "paravirt"])
@pytest.mark.parametrize("guest", ["kernel", "paging"])
def test_flat_guests_never_pay_for_the_checks(strategy, guest):
    """vlab's kernels keep flat segments and never a null one in DS/ES/FS/GS (the flat ring-3
    data segment in the kernel too, as Linux on i386): the per-instruction check never runs."""
    lab = Lab(f"{guest}-pv" if strategy == "paravirt" else guest, strategy=strategy)
    lab.run()
    assert lab.exit_code == 0
    assert lab.machine.segments.armings == 0 and lab.machine.segments.refused == 0


@pytest.mark.parametrize("program", ["seg_limit_more", "seg_iret_nulls_ds", "seg_null_ds_store"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_stepping_equals_running(program, strategy):
    """The check starts before the instruction that loads the null or narrow segment, whether
    the guest runs or is stepped: the same console, refusals and instruction count."""
    image = build(PROGRAMS_DIR / f"{program}.S")
    ran = Lab(image=image, strategy=strategy, budget=2_000_000)
    ran.run()
    stepped = Lab(image=image, strategy=strategy, budget=2_000_000)
    for _ in range(100_000):
        if stepped.step().reason != "step":
            break
    assert ran.exit_code == stepped.exit_code == 0
    assert ran.console == stepped.console and "exception 13" in ran.console
    assert ran.instructions == stepped.instructions
    assert ran.machine.segments.refused == stepped.machine.segments.refused > 0
