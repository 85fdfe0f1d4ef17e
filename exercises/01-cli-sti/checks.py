from vlab.grading.core import (
    Exercise,
    Scenario,
    console_matches_reference,
    exits_match_reference,
    halted,
    handler_ops,
)
from vlab.monitor.trace import ExitReason

INSTALL = {"handle_cli": ExitReason.CLI, "handle_sti": ExitReason.STI}

EXERCISE = Exercise(
    name="01-cli-sti",
    allowed=handler_ops(),
    title="CLI and STI on a virtual interrupt flag",
    handlers=["handle_cli", "handle_sti"],
    scenarios=[
        Scenario("kernel boots, idles and reports", "kernel", "trap_emulate", INSTALL,
                 [halted(2), console_matches_reference(2), exits_match_reference("CLI", 1),
                  exits_match_reference("STI", 1)]),
    ])
