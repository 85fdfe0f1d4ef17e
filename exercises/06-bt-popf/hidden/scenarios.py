from vlab.grading.core import Scenario, console_matches_reference, halted
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_pushf": ExitReason.PUSHF, "handle_popf": ExitReason.POPF}
SCENARIOS = [
    Scenario("a function that saves and restores the flags", "flags.S", "binary_translation",
             INSTALL, [halted(1), console_matches_reference(1)], visibility="hidden"),
    Scenario("POPF turns interrupts on", "demo-popf", "binary_translation", INSTALL,
             [halted(1), console_matches_reference(1)], visibility="hidden"),
    Scenario("PUSHF shows the virtual IF", "demo-pushf", "binary_translation", INSTALL,
             [halted(1), console_matches_reference(1)], visibility="hidden"),
]
