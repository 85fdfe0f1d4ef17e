from vlab.grading.core import Scenario, console_matches_reference, halted
from vlab.monitor.trace import ExitReason

SCENARIOS = [
    Scenario("the kernel reads CR0 and reloads CR3", "kernel", "trap_emulate",
             {"handle_mov_cr": ExitReason.CR_ACCESS}, [halted(1), console_matches_reference(1)],
             visibility="hidden"),
]
