from vlab.grading.core import Exercise, Scenario, console_contains, halted, handler_ops
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_cpuid": ExitReason.CPUID}
EXERCISE = Exercise(
    name="04-cpuid",
    allowed=handler_ops("native_cpuid"),
    title="CPUID: hide VMX and advertise a hypervisor leaf",
    handlers=["handle_cpuid"],
    scenarios=[
        Scenario("what the guest learns from CPUID", "cpuid.S", "vtx", INSTALL,
                 [halted(1), console_contains("vendor: GenuineIntel", 1),
                  console_contains("VMX: 0 hypervisor: 1", 2),
                  console_contains("max hypervisor leaf: 0x40000000 signature: vlabvlabvlab", 2)]),
    ])
