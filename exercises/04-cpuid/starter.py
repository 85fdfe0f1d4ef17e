"""Exercise 4: a CPUID exit handler for the VT-x monitor."""


def handle_cpuid(vcpu, exit):
    # TODO: leaf = vcpu.regs.eax; pass vcpu.native_cpuid(leaf, vcpu.regs.ecx) through, with
    # leaf 1 and leaf 0x40000000 changed as the task says; then vcpu.skip()
    raise NotImplementedError
