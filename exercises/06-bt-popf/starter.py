"""Exercise 6: PUSHF and POPF, emulated inline under binary translation."""


def handle_pushf(vcpu, exit):
    # TODO
    raise NotImplementedError


def handle_popf(vcpu, exit):
    # TODO
    raise NotImplementedError
