from vlab.grading.core import Scenario, console_matches_reference, halted
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_mov_cr": ExitReason.CR_ACCESS}
SCENARIOS = [
    Scenario("the kernel reads CR0 and reloads CR3", "kernel", "trap_emulate", INSTALL,
             [halted(1), console_matches_reference(1)], visibility="hidden"),
    Scenario("moves through EBX, EDX, ESI and EDI", "regs.S", "trap_emulate", INSTALL,
             [halted(1), console_matches_reference(2)], visibility="hidden"),
]
