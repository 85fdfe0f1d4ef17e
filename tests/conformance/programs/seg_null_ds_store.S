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
    mov ds, bx
    MARK 1f
    RESUME 2f
1:  mov dword ptr [0x2000], 1
2:  PRINT "done\n"
    EXIT 0
