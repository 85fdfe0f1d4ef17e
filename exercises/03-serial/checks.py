from vlab.grading.core import Exercise, Scenario, console_matches_reference, halted

INSTALL = {"handle_in": "in", "handle_out": "out"}
EXERCISE = Exercise(
    name="03-serial", title="The serial port: IN/OUT emulation",
    handlers=["handle_in", "handle_out"],
    # IN/OUT emulation needs registers, the devices and the console: nothing else (reading the
    # guest's memory would let a handler print its output without emulating anything)
    allowed=frozenset({"reg", "set_reg", "skip", "port_read", "port_write", "console_append"}),
    scenarios=[
        Scenario("the kernel prints its report", "kernel", "trap_emulate", INSTALL,
                 [halted(2), console_matches_reference(3)]),
    ])
