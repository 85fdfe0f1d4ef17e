SIGNATURE = int.from_bytes(b"vlab", "little")


def handle_cpuid(vcpu, exit):
    leaf, sub = vcpu.regs.eax, vcpu.regs.ecx
    if leaf == 0x40000000:
        eax, ebx, ecx, edx = 0x40000000, SIGNATURE, SIGNATURE, SIGNATURE
    else:
        eax, ebx, ecx, edx = vcpu.native_cpuid(leaf, sub)
        if leaf == 1:
            ecx = (ecx & ~(1 << 5)) | (1 << 31)
    vcpu.regs.eax, vcpu.regs.ebx, vcpu.regs.ecx, vcpu.regs.edx = eax, ebx, ecx, edx
    vcpu.skip()
