from vlab.grading.hypervisor import (
    HV_ENTRY_FAILED,
    HV_UNEXPECTED_EXIT,
    console_as_reference,
    exits_as_reference,
    reports,
    runs_to_end,
    scenario,
)

SCENARIOS = [
    scenario("port I/O of every size, with DX and with an immediate port", "io_sizes.S",
             [runs_to_end(1, 7), console_as_reference(2), exits_as_reference(1)], "hidden"),
    scenario("CPUID leaves and subleaves", "cpuid_leaves.S",
             [runs_to_end(1), console_as_reference(2), exits_as_reference(1)], "hidden"),
    scenario("MOV to CR0 and CR4 from several registers, through the guest/host masks",
             "cr_shadow.S",
             [runs_to_end(1), console_as_reference(2), exits_as_reference(1)], "hidden"),
    scenario("HLT in another guest's idle loop", "hlt_wait.S",
             [runs_to_end(1), console_as_reference(2), exits_as_reference(1)], "hidden"),
    scenario("an exit your hypervisor does not handle (VMXON in the guest)", "vmx_in_guest.S",
             [reports("hv: unexpected VM exit, reason 0x0000001b", HV_UNEXPECTED_EXIT, 2),
              exits_as_reference(1)], "hidden"),
    scenario("a VM entry that fails (VMCS_LINK_POINTER is not all ones)", "kernel",
             [reports("hv: VM entry failed, exit reason 0x80000021", HV_ENTRY_FAILED, 3)],
             "hidden", defines={"ENTRY_BUG": 2}, seed=False),
]
