# title: Robin & Irvine: LSL is unprivileged and reads the real limit: the flat kernel code segment ends at 0xFFFFFFFF, the TSS limit is the guest's
# sdm: vol. 2A LSL; vol. 3A 3.4.5
# diverges: trap_emulate LSL does not trap: it reads the shadow (truncated) limit or fails at CPL 1
# paravirt: n/a LSL of the ring-0 code segment and of the kernel's TSS: a PV kernel runs in ring 1 and has no TSS
# expect:
# | LSL 0x08: 0xffffffff
# | LSL 0x38: 0x00002068
.include "conf.inc"
.macro LSLP sel, text
    mov ecx, \sel
    xor eax, eax
    lsl eax, ecx
    jz 1f
    PRINT "\text: ZF=0\n"
    jmp 2f
1:  SHOW "\text: ", eax
2:
.endm
main:
    LSLP KERNEL_CS, "LSL 0x08"
    LSLP TSS_SELECTOR, "LSL 0x38"
    EXIT 0
