from vlab.grading.core import Scenario, console_matches_reference, halted
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_cli": ExitReason.CLI, "handle_sti": ExitReason.STI}
SCENARIOS = [
    Scenario("the timer waits while the virtual IF is clear", "if_window.S", "trap_emulate",
             INSTALL, [halted(1), console_matches_reference(2)], visibility="hidden"),
    Scenario("critical sections of lengths no one can know in advance", "windows.S",
             "trap_emulate", INSTALL, [halted(1), console_matches_reference(3)],
             visibility="hidden", seed_symbol="seed"),
]
