"""Exercise 2: emulate HLT without spinning."""


def handle_hlt(vcpu, exit):
    # TODO: step past the HLT and let virtual time skip to the next interrupt
    raise NotImplementedError
