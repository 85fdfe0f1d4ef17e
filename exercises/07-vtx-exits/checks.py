from vlab.grading.core import (
    Exercise,
    Scenario,
    console_matches_reference,
    exits_match_reference,
    halted,
    handler_ops,
)
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_io": ExitReason.IO_INSTRUCTION, "handle_cr_access": ExitReason.CR_ACCESS}


def store_exiting(lab):
    lab.set_control("CR3_STORE_EXITING", True)


EXERCISE = Exercise(
    name="07-vtx-exits",
    allowed=handler_ops("port_read", "port_write", "vmread", "vmwrite"),
    title="A VT-x exit handler decoding I/O and CR qualifications",
    handlers=["handle_io", "handle_cr_access"],
    scenarios=[
        Scenario("CR3 and port I/O", "cr3.S", "vtx", INSTALL,
                 [halted(1), console_matches_reference(3), exits_match_reference("CR_ACCESS", 1)],
                 setup=store_exiting,
                 strategy_options={"ept": False}),
    ])
