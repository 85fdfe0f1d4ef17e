from vlab.grading.core import Scenario, exits_match_reference, halted
from vlab.monitor.trace import ExitReason

SCENARIOS = [
    Scenario("HLT under binary translation", "kernel", "binary_translation",
             {"handle_hlt": ExitReason.HLT}, [halted(1), exits_match_reference("HLT", 1)],
             visibility="hidden"),
]
