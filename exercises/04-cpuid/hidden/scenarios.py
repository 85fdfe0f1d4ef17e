from vlab.grading.core import Scenario, console_matches_reference, halted
from vlab.monitor.trace import ExitReason

SCENARIOS = [
    Scenario("the kernel's vendor line is untouched", "kernel", "vtx",
             {"handle_cpuid": ExitReason.CPUID}, [halted(1), console_matches_reference(1)],
             visibility="hidden"),
]
