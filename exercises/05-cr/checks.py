from vlab.grading.core import (
    Exercise,
    Scenario,
    console_matches_reference,
    exits_match_reference,
    halted,
    handler_ops,
)
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_mov_cr": ExitReason.CR_ACCESS}
EXERCISE = Exercise(
    name="05-cr",
    allowed=handler_ops(),
    title="MOV to/from CR0 and CR3 on virtual state", handlers=["handle_mov_cr"],
    scenarios=[
        Scenario("control registers through several registers", "cr.S", "trap_emulate", INSTALL,
                 [halted(1), console_matches_reference(3), exits_match_reference("CR_ACCESS", 1)]),
    ])
