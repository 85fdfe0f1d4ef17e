# title: Robin & Irvine: LAR is unprivileged and reads the real descriptor: the kernel code segment's DPL is 0
# sdm: vol. 2A LAR; vol. 3A 3.4.5
# diverges: trap_emulate LAR does not trap: it shows the shadow descriptor (DPL 1) or fails at CPL 1
# paravirt: n/a LAR of the DPL-0 kernel code segment: ring 0 is the hypervisor's (a PV kernel's segments are DPL 1)
# expect:
# | LAR 0x08: 0x00c09b00
.include "conf.inc"
main:
    mov ecx, KERNEL_CS
    xor eax, eax
    lar eax, ecx
    jnz 1f
    and eax, 0x00F0FF00
    SHOW "LAR 0x08: ", eax
    EXIT 0
1:  PRINT "LAR 0x08: ZF=0\n"
    EXIT 0
