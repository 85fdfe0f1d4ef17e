# title: IRET to ring 3 nulls DS/ES/GS holding DPL-0 data selectors (FS holds a DPL-3 one: kept); a load through DS then #GP(0)
# sdm: vol. 2A IRET (RETURN-TO-OUTER-PRIVILEGE-LEVEL: "IF segment register points to data or non-conforming code segment AND CPL > segment descriptor DPL THEN SegmentSelector <- 0"); vol. 3A 5.8.6? / 3.4.2
# expect:
# | ds = 0x00000000
# | es = 0x00000000
# | fs = 0x00000033
# | gs = 0x00000000
# | exception 13, error 0x00000000, eip +0, ring 3
# | done
.include "conf.inc"
main:
    MARK 1f                             # (ring 3 cannot write these: DS is null there)
    RESUME 2f
    mov ax, USER_DS
    mov fs, ax
    push USER_DS
    push offset ustack_top
    push 0x2
    push USER_CS
    push offset user
    iretd                               # DS, ES, GS still hold KERNEL_DS (DPL 0)
user:
    xor ecx, ecx
    mov cx, ds
    USHOW "ds = ", ecx
    mov cx, es
    USHOW "es = ", ecx
    mov cx, fs
    USHOW "fs = ", ecx
    mov cx, gs
    USHOW "gs = ", ecx
1:  mov eax, ds:[0x2000]
2:  UPRINT "done\n"
    mov eax, 3
    int 0x80
