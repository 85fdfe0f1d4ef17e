from vlab.grading.core import Scenario, console_contains, console_matches_reference, halted
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_cpuid": ExitReason.CPUID}
SCENARIOS = [
    Scenario("the kernel's vendor line is untouched", "kernel", "vtx", INSTALL,
             [halted(1), console_matches_reference(1)], visibility="hidden"),
    Scenario("an operating system's hypervisor detection", "detect.S", "vtx", INSTALL,
             [halted(1), console_contains("hypervisor detected: vlabvlabvlab", 2)],
             visibility="hidden"),
]
