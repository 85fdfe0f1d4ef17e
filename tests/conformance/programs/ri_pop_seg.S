# title: Robin & Irvine: POP DS checks the CPL and the selector's RPL: at ring 0 it loads the DPL-0 data segment, but an RPL-1 selector for it is #GP(sel), and so is the same pop at ring 1
# sdm: vol. 2B POP ("IF DS, ES, FS, or GS is loaded ... IF ... (RPL > DPL or CPL > DPL) THEN #GP(selector)"); vol. 3A 6.13 (error code: the selector's index and TI, EXT = 0)
# diverges: trap_emulate POP DS is not trapped: the kernel really runs at CPL 1 over descriptors shadowed at DPL 1, so the RPL-1 selector loads
# paravirt: n/a ring 0 against ring-1 code apart from the kernel: a PV kernel is itself ring 1
# expect:
# | ring 0: ds = 0x00000010
# | exception 13, error 0x00000010, eip +0
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
    push KERNEL_DS | 1
1:  pop ds
2:  mov ax, KERNEL_DS
    mov ds, ax
    MARK 3f
    RESUME 4f
    TO_RING1 r1
r1:
    push KERNEL_DS
3:  pop ds
4:  UPRINT "done\n"
    mov eax, 3
    int 0x80
