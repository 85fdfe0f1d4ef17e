from vlab.grading.core import Exercise, Scenario, console_matches_reference, halted

INSTALL = {"handle_in": "in", "handle_out": "out"}
EXERCISE = Exercise(
    name="03-serial", title="The serial port: IN/OUT emulation",
    handlers=["handle_in", "handle_out"],
    scenarios=[
        Scenario("the kernel prints its report", "kernel", "trap_emulate", INSTALL,
                 [halted(2), console_matches_reference(3)]),
    ])
