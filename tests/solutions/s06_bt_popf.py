IF, IOPL = 0x200, 0x3000


def handle_pushf(vcpu, exit):
    esp = vcpu.regs.esp - 4
    vcpu.mem.write_u32(esp, vcpu.guest_eflags())
    vcpu.regs.esp = esp
    vcpu.skip()


def handle_popf(vcpu, exit):
    esp = vcpu.regs.esp
    value = vcpu.mem.u32(esp)
    vcpu.virt.IF = bool(value & IF)
    real = vcpu.regs.eflags
    vcpu.regs.eflags = (real & (IF | IOPL)) | (value & ~(IF | IOPL) & 0x3F7FD5) | 2
    vcpu.regs.esp = esp + 4
    vcpu.skip()
