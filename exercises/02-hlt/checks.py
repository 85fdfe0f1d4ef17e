from vlab.grading.core import (
    Exercise,
    Scenario,
    console_matches_reference,
    exits_match_reference,
    halted,
    handler_ops,
)
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_hlt": ExitReason.HLT}
EXERCISE = Exercise(
    name="02-hlt",
    allowed=handler_ops("halt"),
    title="HLT and virtual time", handlers=["handle_hlt"],
    scenarios=[
        Scenario("the kernel idles with HLT", "kernel", "trap_emulate", INSTALL,
                 [halted(2), console_matches_reference(1), exits_match_reference("HLT", 2)]),
    ])
