"""A guest cannot write the monitor's data, GDT, TSS or stack, run its code, or leave its RAM;
after any error the lab works again after reset() or switch()."""

import pytest

from tests.conftest import build
from vlab import layout
from vlab.errors import GuestFault, UnmappedAccess, VlabError
from vlab.lab import Lab

MONITORS = ("trap_emulate", "binary_translation", "vtx")


@pytest.mark.parametrize("strategy", ("native", *MONITORS))
@pytest.mark.parametrize("case,what", [(1, "monitor GDT"), (2, "monitor TSS"), (5, "monitor stack")])
def test_guest_cannot_write_monitor_memory(strategy, case, what):
    lab = Lab(image=build("hostile", CASE=case), strategy=strategy)
    before = bytes(lab.machine.core.uc.mem_read(layout.MONITOR_BASE, layout.MONITOR_SIZE))
    with pytest.raises(GuestFault, match="wrote to the monitor's memory"):
        lab.run()
    after = bytes(lab.machine.core.uc.mem_read(layout.MONITOR_BASE, layout.MONITOR_SIZE))
    assert after == before, f"{what} changed"


@pytest.mark.parametrize("strategy", ("native", *MONITORS))
def test_guest_cannot_run_the_monitors_code(strategy):
    lab = Lab(image=build("hostile", CASE=3), strategy=strategy)
    with pytest.raises(GuestFault, match="jumped into the machine's reserved memory"):
        lab.run()


@pytest.mark.parametrize("strategy", ("native", *MONITORS))
def test_guest_cannot_leave_its_ram(strategy):
    lab = Lab(image=build("hostile", CASE=4), strategy=strategy)
    with pytest.raises(UnmappedAccess) as info:
        lab.run()
    assert info.value.address == 0x00500000


def test_monitor_descriptors_still_get_their_accessed_bits():
    for strategy in MONITORS:  # the CPU's own descriptor updates are not "guest writes"
        lab = Lab("kernel", strategy)
        lab.run()
        assert lab.exit_code == 0


def test_translation_cache_is_out_of_reach():
    lab = Lab("smc", "binary_translation")
    lab.run()  # the guest rewrites its code: the monitor notices and retranslates
    assert lab.exit_code == 0 and lab.translation_stats()["invalidated"] == 2
    assert all(b.address < lab.ram_size for b in lab.translations)


ERRORS = [("faults", {"CASE": 1}), ("faults", {"CASE": 2}), ("faults", {"CASE": 3}),
          ("faults", {"CASE": 4}), ("faults", {"CASE": 5})]
CASES = [(s, g, d) for s in ("native", *MONITORS) for g, d in ERRORS] + \
    [(s, "hostile", {"CASE": 1}) for s in ("native", *MONITORS)]


@pytest.mark.parametrize("strategy,guest,defines", CASES)
def test_lab_works_again_after_any_error(strategy, guest, defines):
    lab = Lab(image=build(guest, **defines), strategy=strategy, budget=20_000)
    with pytest.raises(VlabError):
        lab.run()
    lab.reset()
    assert lab.status == "running" and lab.state().eip == layout.ENTRY
    with pytest.raises(VlabError):  # and it behaves the same again
        lab.run()
    lab.switch("vtx" if strategy != "vtx" else "native")
    assert lab.status == "running" and lab.instructions == 0
    assert lab.state().eip == layout.ENTRY and lab.history[-1]["status"] != "running"
