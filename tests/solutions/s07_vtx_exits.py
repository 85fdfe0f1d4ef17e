REGISTERS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
SIZED = {1: "al", 2: "ax", 4: "eax"}


def handle_io(vcpu, exit):
    q = exit.qualification
    size, is_in, port = (q & 7) + 1, bool(q >> 3 & 1), (q >> 16) & 0xFFFF
    if is_in:
        vcpu.regs[SIZED[size]] = vcpu.port_read(port, size)
    else:
        vcpu.port_write(port, size, vcpu.regs[SIZED[size]])
    vcpu.skip()


def handle_cr_access(vcpu, exit):
    q = exit.qualification
    kind, reg = (q >> 4) & 3, REGISTERS[(q >> 8) & 7]
    if kind == 0:
        vcpu.vmcs["GUEST_CR3"] = vcpu.regs[reg]
    else:
        vcpu.regs[reg] = vcpu.vmcs["GUEST_CR3"]
    vcpu.skip()
