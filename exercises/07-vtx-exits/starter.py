"""Exercise 7: VT-x I/O and CR-access exit handlers (decode the qualifications yourself)."""

REGISTERS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")


def handle_io(vcpu, exit):
    # TODO
    raise NotImplementedError


def handle_cr_access(vcpu, exit):
    # TODO
    raise NotImplementedError
