"""Exercise 5: emulate MOV to/from control registers on the virtual CPU."""

REGISTERS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")


def handle_mov_cr(vcpu, exit):
    # TODO: decode exit.qualification (CR number, access type, register), then emulate
    raise NotImplementedError
