from vlab.grading.core import Scenario, console_matches_reference, halted

INSTALL = {"hypercall_event_channel_op": "event_channel_op"}
SCENARIOS = [
    Scenario("other sector counts and batches", "disk-pv", "paravirt", INSTALL,
             [halted(1), console_matches_reference(2)], visibility="hidden",
             defines={"SECTORS": 48, "BATCH": 6}),
    Scenario("one sector a request, from another first sector", "disk-pv", "paravirt", INSTALL,
             [halted(1), console_matches_reference(2)], visibility="hidden",
             defines={"SECTORS": 8, "BATCH": 1, "FIRST": 100}),
    Scenario("a hostile ring: buffers outside RAM, past the disk, an unknown type", "hostile.S",
             "paravirt", INSTALL, [halted(1), console_matches_reference(3)],
             visibility="hidden", disk=128),
]
