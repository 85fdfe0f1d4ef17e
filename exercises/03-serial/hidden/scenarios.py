from vlab.grading.core import Scenario, console_matches_reference, halted

INSTALL = {"handle_in": "in", "handle_out": "out"}
SCENARIOS = [
    Scenario("output no one can know in advance", "seeded.S", "trap_emulate", INSTALL,
             [halted(1), console_matches_reference(2)], visibility="hidden", seed_symbol="seed"),
    Scenario("I/O of every size", "sizes.S", "trap_emulate", INSTALL,
             [halted(1), console_matches_reference(2)], visibility="hidden"),
    Scenario("a program that programs the timer", "demo-popf", "trap_emulate", INSTALL,
             [halted(1), console_matches_reference(1)], visibility="hidden"),
    Scenario("self-modifying code's output", "smc", "trap_emulate", INSTALL,
             [halted(1), console_matches_reference(1)], visibility="hidden"),
]
