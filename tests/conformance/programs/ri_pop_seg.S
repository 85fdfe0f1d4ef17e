# title: Robin & Irvine: POP DS checks the real CPL: at ring 0 it loads the DPL-0 selector; at ring 1 the same pop is #GP(sel)
# sdm: vol. 2B POP ("IF DS, ES, FS, or GS is loaded ... IF ... (RPL > DPL or CPL > DPL) THEN #GP(selector)")
# diverges: trap_emulate POP DS is not trapped; with ring compression the guest's ring-1 code can load its kernel's data segment
# expect:
# | ring 0: ds = 0x00000010
# | exception 13, error 0x00000010, eip +0, ring 1
# | done
.include "conf.inc"
main:
    mov ax, USER_DS
    mov ds, ax
    push KERNEL_DS
    pop ds
    xor eax, eax
    mov ax, ds
    SHOW "ring 0: ds = ", eax
    MARK 1f
    RESUME 2f
    TO_RING1 r1
r1:
    push KERNEL_DS
1:  pop ds
2:  UPRINT "done\n"
    mov eax, 3
    int 0x80
