from vlab.grading.core import Scenario, console_matches_reference, halted
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_io": ExitReason.IO_INSTRUCTION, "handle_cr_access": ExitReason.CR_ACCESS}


def store_exiting(lab):
    lab.set_control("CR3_STORE_EXITING", True)


SCENARIOS = [
    Scenario("the whole kernel under VT-x", "kernel", "vtx", INSTALL,
             [halted(1), console_matches_reference(2)], visibility="hidden", setup=store_exiting,
             strategy_options={"ept": False}),
    Scenario("CR3 moves through EDI, EDX and ESI", "cr3regs.S", "vtx", INSTALL,
             [halted(1), console_matches_reference(2)], visibility="hidden", setup=store_exiting,
             strategy_options={"ept": False}),
]
