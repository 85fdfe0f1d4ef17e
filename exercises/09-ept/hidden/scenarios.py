from vlab.grading.core import Scenario, console_matches_reference, exits_match_reference, halted
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_ept_violation": ExitReason.EPT_VIOLATION}

SCENARIOS = [
    Scenario("the fork-like loop: 200 address spaces", "forkwait", "vtx", INSTALL,
             [halted(1), console_matches_reference(1), exits_match_reference("EPT_VIOLATION", 1)],
             visibility="hidden", budget=5_000_000),
]
