from vlab.grading.core import Scenario, console_matches_reference, halted
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_pushf": ExitReason.PUSHF, "handle_popf": ExitReason.POPF}
SCENARIOS = [
    Scenario("a function that saves and restores the flags", "flags.S", "binary_translation",
             INSTALL, [halted(1), console_matches_reference(1)], visibility="hidden"),
    Scenario("POPF turns interrupts on and off", "popf.S", "binary_translation", INSTALL,
             [halted(1), console_matches_reference(1)], visibility="hidden"),
    Scenario("PUSHF shows the virtual IF", "pushf.S", "binary_translation", INSTALL,
             [halted(1), console_matches_reference(1)], visibility="hidden"),
]
