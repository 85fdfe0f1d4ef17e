from vlab.grading.core import Exercise, Scenario, console_matches_reference, halted, handler_ops
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_pushf": ExitReason.PUSHF, "handle_popf": ExitReason.POPF}
EXERCISE = Exercise(
    name="06-bt-popf",
    allowed=handler_ops("guest_eflags"),
    title="A binary translation rule: PUSHF/POPF emulated inline",
    handlers=["handle_pushf", "handle_popf"],
    scenarios=[
        Scenario("the kernel's critical sections", "kernel", "binary_translation", INSTALL,
                 [halted(2), console_matches_reference(3)]),
    ])
