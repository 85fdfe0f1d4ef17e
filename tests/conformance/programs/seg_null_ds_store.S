# title: a store through DS holding the null selector: #GP(0), saved EIP at the store (loading null is allowed at ring 0)
# sdm: vol. 3A 3.4.2 ("null segment selector ... generates #GP when memory is accessed"), 5.4.1? / 5.8.6; vol. 2A MOV
# expect:
# | loaded null into DS: no fault
# | exception 13, error 0x00000000, eip +0
# | done
.include "conf.inc"
main:
    xor eax, eax
    mov ds, ax
    mov ax, KERNEL_DS
    mov es, ax
    push ds
    pop ebx
    mov ds, ax
    PRINT "loaded null into DS: no fault\n"
    MARK 1f
    RESUME 2f
    mov ds, bx                                  # (MARK and RESUME store through DS: before)
1:  mov dword ptr [0x2000], 1
2:  mov ax, KERNEL_DS                           # the handler put the null DS back
    mov ds, ax
    PRINT "done\n"
    EXIT 0
