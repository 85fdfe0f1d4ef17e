"""Exercise 1: emulate CLI and STI on the virtual interrupt flag."""


def handle_cli(vcpu, exit):
    # TODO: disable the guest's (virtual) interrupts, then step past the instruction
    raise NotImplementedError


def handle_sti(vcpu, exit):
    # TODO: enable the guest's (virtual) interrupts, then step past the instruction
    raise NotImplementedError
