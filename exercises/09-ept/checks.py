from vlab.grading.core import (
    Exercise,
    Scenario,
    console_matches_reference,
    exits_match_reference,
    halted,
    handler_ops,
)
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_ept_violation": ExitReason.EPT_VIOLATION}
EXERCISE = Exercise(
    name="09-ept",
    allowed=handler_ops("ept_map", "vmread"),
    title="EPT violations: allocating guest memory on demand",
    handlers=["handle_ept_violation"],
    scenarios=[
        Scenario("the paging kernel under VT-x with EPT", "paging", "vtx", INSTALL,
                 [halted(1), console_matches_reference(3),
                  exits_match_reference("EPT_VIOLATION", 2)]),
        Scenario("a frame first touched through another virtual address", "alias.S", "vtx",
                 INSTALL, [halted(1), console_matches_reference(2)]),
    ])
