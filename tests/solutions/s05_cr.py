REGISTERS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")


def handle_mov_cr(vcpu, exit):
    q = exit.qualification
    cr, kind, reg = q & 0xF, (q >> 4) & 3, REGISTERS[(q >> 8) & 7]
    if kind == 0:
        setattr(vcpu.virt, f"CR{cr}", vcpu.regs[reg])
    else:
        vcpu.regs[reg] = getattr(vcpu.virt, f"CR{cr}")
    vcpu.skip()
