# title: MOV SS at CPL 0 with a selector whose RPL is 3 (or a DPL-3 descriptor): #GP(sel); MOV DS with a DPL-3 selector: allowed
# sdm: vol. 2A MOV ("IF segment selector's RPL != CPL or segment is not a writable data segment or DPL != CPL THEN #GP(selector)" for SS)
# expect:
# | exception 13, error 0x00000010, eip +0
# | exception 13, error 0x00000030, eip +0
# | ds = 0x00000033
.include "conf.inc"
main:
    mov ax, KERNEL_DS | 3
    MARK 1f
    RESUME 2f
1:  mov ss, ax
2:  mov ax, USER_DS
    MARK 3f
    RESUME 4f
3:  mov ss, ax
4:  mov ax, USER_DS
    mov ds, ax
    xor ecx, ecx
    mov cx, ds
    mov ax, KERNEL_DS
    mov ds, ax
    SHOW "ds = ", ecx
    EXIT 0
