from vlab.grading.core import Exercise, Scenario, console_matches_reference, halted, handler_ops

INSTALL = {"hypercall_console_io": "console_io", "hypercall_multicall": "multicall"}
EXERCISE = Exercise(
    name="08-hypercall",
    allowed=handler_ops("console_append", "guest_range_ok", "hypercall"),
    title="A paravirtual hypercall handler: console_io and multicall",
    handlers=["hypercall_console_io", "hypercall_multicall"],
    scenarios=[
        Scenario("the paravirtual kernel boots and reports", "kernel-pv", "paravirt", INSTALL,
                 [halted(2), console_matches_reference(3)]),
    ])
