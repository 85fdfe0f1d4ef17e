REG = {1: "al", 2: "ax", 4: "eax"}


def _decode(q):
    return (q >> 16) & 0xFFFF, (q & 7) + 1


def handle_in(vcpu, exit):
    port, size = _decode(exit.qualification)
    value = 0x60 if port == 0x3FD else vcpu.port_read(port, size)
    vcpu.regs[REG[size]] = value
    vcpu.skip()


def handle_out(vcpu, exit):
    port, size = _decode(exit.qualification)
    value = vcpu.regs[REG[size]]
    if port == 0x3F8:
        vcpu.console_append(value & 0xFF)
    else:
        vcpu.port_write(port, size, value)
    vcpu.skip()
