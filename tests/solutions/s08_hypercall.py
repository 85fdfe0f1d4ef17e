EINVAL, EFAULT = -22, -14


def hypercall_console_io(vcpu, exit):
    cmd, count, buf = vcpu.regs.ebx, vcpu.regs.ecx, vcpu.regs.edx
    if cmd != 0:
        vcpu.regs.eax = EINVAL & 0xFFFFFFFF
        return
    if count > 4096 or not vcpu.hv.guest_range_ok(buf, count):
        vcpu.regs.eax = EFAULT & 0xFFFFFFFF
        return
    for byte in vcpu.mem.read(buf, count):
        vcpu.console_append(byte)
    vcpu.regs.eax = count


def hypercall_multicall(vcpu, exit):
    calls, count = vcpu.regs.ebx, vcpu.regs.ecx
    if count > 64 or not vcpu.hv.guest_range_ok(calls, 32 * count):
        vcpu.regs.eax = EFAULT & 0xFFFFFFFF
        return
    for i in range(count):
        entry = calls + 32 * i
        op = vcpu.mem.u32(entry)
        args = [vcpu.mem.u32(entry + 8 + 4 * k) for k in range(5)]
        vcpu.mem.write_u32(entry + 4, vcpu.hypercall(op, *args))
    vcpu.regs.eax = 0
